//! `tspctl completions SHELL`: completion scripts for bash, zsh and fish.

const COMMANDS: &str = "demo list caps set-data get-data watch usbhid explain completions help";
const OPTIONS: &str = "--bus --json --log-level";

fn bash() -> String {
    format!(
        r#"# tspctl completion for bash: eval "$(tspctl completions bash)"
_tspctl() {{
    local cur prev
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    case "$prev" in
        --bus) COMPREPLY=($(compgen -W "session system" -- "$cur")); return ;;
        completions) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
        usbhid) COMPREPLY=($(compgen -W "inspect" -- "$cur")); return ;;
        inspect|--file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        watch) return ;;
    esac
    COMPREPLY=($(compgen -W "{COMMANDS} {OPTIONS} --file --count --seconds" -- "$cur"))
}}
complete -F _tspctl tspctl
"#
    )
}

fn zsh() -> String {
    format!(
        r#"#compdef tspctl
# tspctl completion for zsh: tspctl completions zsh > "${{fpath[1]}}/_tspctl"
_tspctl() {{
    _arguments \
        '--bus[talk to tspd on this bus]:bus:(session system)' \
        '--json[print JSON]' \
        '1:command:({COMMANDS})' \
        '*::argument:_files'
}}
_tspctl "$@"
"#
    )
}

fn fish() -> String {
    let mut script = String::from(
        "# tspctl completion for fish: tspctl completions fish > ~/.config/fish/completions/tspctl.fish\n\
         complete -c tspctl -l bus -x -a 'session system' -d 'talk to tspd on this bus'\n\
         complete -c tspctl -l json -d 'print JSON'\n",
    );
    for command in COMMANDS.split(' ') {
        script += &format!("complete -c tspctl -n '__fish_use_subcommand' -x -a {command}\n");
    }
    script +=
        "complete -c tspctl -n '__fish_seen_subcommand_from completions' -x -a 'bash zsh fish'\n";
    script
}

/// Prints the script for `shell`.
pub(crate) fn print(shell: &str) -> Result<(), String> {
    let script = match shell {
        "bash" => bash(),
        "zsh" => zsh(),
        "fish" => fish(),
        other => return Err(format!("completions {other}: use bash, zsh or fish")),
    };
    print!("{script}");
    Ok(())
}
