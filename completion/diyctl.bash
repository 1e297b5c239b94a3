# bash completion for diyctl(1): subcommands, their options, container names
# (from the state directory), *.conf files, and config keys after --set.
# Needs nothing from the bash-completion package.

# Container names: the directories of the state root, as diyctl finds it.
_diyctl_names()
{
	local root=${DIYCTL_STATE_ROOT:-}
	if [[ -z $root ]]; then
		if [[ $EUID -eq 0 ]]; then
			# state_dir of the host config, else the default
			root=$(sed -n 's/^[[:space:]]*state_dir[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' \
				"${DIYCTL_HOST_CONF:-/etc/diyctl/host.conf}" 2>/dev/null | tail -n 1)
			root=${root:-/run/diyctl}
		else
			root=${XDG_RUNTIME_DIR:-/run/user/$EUID}/diyctl
		fi
	fi
	local d
	for d in "$root"/*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		d=${d##*/}
		[[ $d =~ ^[a-z0-9][a-z0-9_.-]*$ ]] && printf '%s\n' "$d"
	done
}

# *.conf files, and directories to descend into (-o filenames adds their /).
_diyctl_files()
{
	local cur=$1 IFS=$'\n' f
	for f in $(compgen -f -- "$cur"); do
		if [[ -d $f ]]; then
			printf '%s\n' "$f"
		elif [[ $f == *.conf ]]; then
			printf '%s\n' "$f"
		fi
	done
}

_diyctl_keys()
{
	local diyctl=${COMP_WORDS[0]}
	command -v "$diyctl" >/dev/null 2>&1 || diyctl=diyctl
	"$diyctl" keys 2>/dev/null | awk 'NR > 1 && $1 !~ /\[\]/ { print $1 }'
}

_diyctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="check plan start stop kill list status top exec logs cleanup journal config keys image help"
	local IFS=$'\n'
	COMPREPLY=()

	# The subcommand: the first word after the global options.
	local i cmd= cmdi=0
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-v | --verbose) ;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			cmdi=$i
			break
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W $'-v\n--verbose\n--version\n--help' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "${commands// /$'\n'}" -- "$cur"))
		fi
		return 0
	fi

	# Operands already given (not options, not option values).
	local nops=0
	for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--set | -s | --timeout | --signal) ((i++)) ;;
		-t) [[ $cmd == stop ]] && ((i++)) ;;
		-n | --tail) [[ $cmd == logs ]] && ((i++)) ;;
		-u | --user | -e | --env | -w | --workdir) [[ $cmd == exec ]] && ((i++)) ;;
		-*) ;;
		*) ((nops++)) ;;
		esac
	done

	# Value of an option that takes one.
	case $prev in
	-s | --signal)
		if [[ $cmd == kill ]]; then
			COMPREPLY=($(compgen -W $'SIGHUP\nSIGINT\nSIGQUIT\nSIGKILL\nSIGUSR1\nSIGUSR2\nSIGTERM\nSIGCONT\nSIGSTOP\nSIGWINCH' -- "$cur"))
			return 0
		fi
		[[ $prev == --signal ]] && return 0
		;&
	--set)
		compopt -o nospace 2>/dev/null
		COMPREPLY=($(compgen -S = -W "$(_diyctl_keys)" -- "$cur"))
		return 0
		;;
	-t | --timeout)
		[[ $cmd == stop ]] && return 0
		;;
	-n | --tail)
		[[ $cmd == logs ]] && return 0
		;;
	-u | --user | -e | --env | -w | --workdir)
		# (after NAME they are the command's)
		[[ $cmd == exec ]] && ((nops == 0)) && return 0
		;;
	esac


	local opts=
	case $cmd in
	check) opts=$'--json\n--host\n--separate\n--set\n--help' ;;
	plan | config) opts=$'--json\n--set\n--help' ;;
	start) opts=$'-d\n--detach\n-v\n--set\n--help' ;;
	stop) opts=$'-t\n--timeout\n--help' ;;
	kill) opts=$'-s\n--signal\n--help' ;;
	list | keys | status | top | journal) opts=$'--json\n--help' ;;
	logs) opts=$'-f\n--follow\n-n\n--tail\n--help' ;;
	cleanup) opts=$'--all\n--help' ;;
	exec) opts=$'-i\n--interactive\n-u\n--user\n-e\n--env\n-w\n--workdir\n-t\n--tty\n-T\n--no-tty\n--help' ;;
	image) opts=$'--json\n-n\n--dry-run\n--help' ;;
	esac
	# exec: after NAME every word is the command's
	if [[ $cur == -* && ($cmd != exec || $nops -eq 0) ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
	fi

	case $cmd in
	check)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(_diyctl_files "$cur"))
		;;
	plan | start | config)
		if ((nops == 0)); then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(_diyctl_files "$cur"))
		fi
		;;
	stop | kill | cleanup)
		COMPREPLY=($(compgen -W "$(_diyctl_names)" -- "$cur"))
		;;
	status | top | logs | journal | exec)
		if ((nops == 0)); then
			COMPREPLY=($(compgen -W "$(_diyctl_names)" -- "$cur"))
		elif [[ $cmd == exec ]]; then
			compopt -o default 2>/dev/null
		fi
		;;
	image)
		((nops == 0)) && COMPREPLY=($(compgen -W $'list\nprune' -- "$cur"))
		;;
	help)
		if ((nops == 0)); then
			COMPREPLY=($(compgen -W "${commands// /$'\n'}" -- "$cur"))
		fi
		;;
	esac
	return 0
}

complete -F _diyctl diyctl
