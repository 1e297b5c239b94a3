/* dc-probe's escape attempts (probe_escape.c), for tests/integration/test_escape.py. */
#pragma once

/* dc-probe try ATTEMPT [ARGS...]: make one attempt, print ONE JSON object
 * {"attempt": NAME, "steps": [{"step", "ret", "errno", "error"}...], "info": {...}}
 * and exit 0 (2 for a usage error). */
int dc_probe_try(int argc, char **argv);
