//! The key table of each context; see [`super::context`]. Keep the texts
//! short: help wraps them, and shows the context in focus first.

use super::Command::*;
use super::context::Key::{Cmd, Digits, Fixed, Other, Text};
use super::context::{Context, Row};

const fn row(keys: &'static [super::Key], does: &'static str) -> Row {
    Row { keys, does }
}

/// The title and rows of a context.
pub(super) fn of(c: Context) -> (&'static str, &'static [Row]) {
    match c {
        Context::AllPanes => ("Every pane", ALL_PANES),
        Context::Hosts => ("Hosts pane", HOSTS),
        Context::Vms => ("VMs pane", VMS),
        Context::Jobs => ("Jobs pane", JOBS),
        Context::History => ("History pane", HISTORY),
        Context::VmFilter => ("VM filter (/ outside History)", VM_FILTER),
        Context::HistoryFilter => ("History filter (/ in History)", HISTORY_FILTER),
        Context::RepoList => ("Repository view (b)", REPO_LIST),
        Context::RepoOpen => ("Repository: path or passphrase", REPO_OPEN),
        Context::RepoVerified => ("Repository: verify result", REPO_VERIFIED),
        Context::RepoRepair => ("Repository: remove damaged chunks?", REPO_REPAIR),
        Context::RepoPruneForm => ("Repository: prune rules (P)", REPO_PRUNE_FORM),
        Context::RepoPrunePlan => ("Repository: prune dry run", REPO_PRUNE_PLAN),
        Context::RepoRestore => ("Repository: restore form (R)", REPO_RESTORE),
        Context::RepoCreate => ("No repository there yet: create one", REPO_CREATE),
        Context::Schedules => ("Schedules view (S)", SCHEDULES),
        Context::AddHost => ("Add host dialog", ADD_HOST),
        Context::Clone => ("Clone dialog", CLONE),
        Context::SaveProfile => ("Clone dialog: save as profile", SAVE_PROFILE),
        Context::Profiles => ("Profile menu", PROFILES),
        Context::ProfileEdit => ("Profile menu: edit (e)", PROFILE_EDIT),
        Context::Export => ("Export dialog", EXPORT),
        Context::HostKey => ("Unknown host key", HOST_KEY),
        Context::Passphrase => ("SSH key passphrase", PASSPHRASE),
        Context::ConfirmQuit => ("Quit while jobs run?", CONFIRM_QUIT),
        Context::ConfirmCancel => ("Cancel a job?", CONFIRM_CANCEL),
        Context::VmDetail => ("VM details", VM_DETAIL),
        Context::JobDetail => ("Job details", JOB_DETAIL),
        Context::HistoryDetail => ("History row details", HISTORY_DETAIL),
        Context::Help => ("This help", HELP),
    }
}

const ALL_PANES: &[Row] = &[
    row(&[Cmd(Help)], "this help, the context in focus first"),
    row(&[Cmd(Quit)], "quit (asks while a job runs)"),
    row(
        &[Cmd(NextPane), Cmd(Right)],
        "next pane: hosts, VMs, jobs, history",
    ),
    row(&[Cmd(PrevPane), Cmd(Left)], "previous pane"),
    row(&[Cmd(Up), Cmd(Down)], "move the selection"),
    row(&[Cmd(Top), Cmd(Bottom)], "first, last row"),
    row(&[Cmd(PageUp), Cmd(PageDown)], "a page up, down"),
    row(&[Cmd(Filter)], "filter VMs by name (goes to the VMs pane)"),
    row(&[Fixed("esc")], "clear the VM filter"),
    row(&[Cmd(Refresh)], "refresh the host selected in Hosts"),
    row(&[Cmd(RefreshAll)], "refresh all hosts"),
    row(&[Cmd(AddHost)], "add a host"),
    row(
        &[Cmd(Repository)],
        "repository view: snapshots per VM; restore, verify, prune",
    ),
    row(
        &[Cmd(Schedules)],
        "schedules view: the daemon's schedules; run one now",
    ),
];

const HOSTS: &[Row] = &[
    row(
        &[Cmd(Details)],
        "answer the host's key or passphrase prompt; go to its VMs when up, else connect",
    ),
    row(
        &[Cmd(Profiles)],
        "profile menu for the VM highlighted in the VMs pane",
    ),
];

const VMS: &[Row] = &[
    row(&[Cmd(Details)], "the VM's disks, NICs and domain XML"),
    row(&[Cmd(Clone)], "clone the VM: pick where, check, start"),
    row(
        &[Cmd(Profiles)],
        "pick a clone profile for the VM and see its settings",
    ),
    row(
        &[Cmd(Export)],
        "export the VM to a repository (encrypted, deduplicated)",
    ),
];

const JOBS: &[Row] = &[
    row(
        &[Cmd(Details)],
        "the job in detail: rates, phases, disks, checks, log",
    ),
    row(
        &[Cmd(Cancel)],
        "cancel the queued or running job (asks first)",
    ),
    row(
        &[Cmd(Retry)],
        "run a failed or cancelled job again, as a new job",
    ),
];

const HISTORY: &[Row] = &[
    row(
        &[Cmd(Details)],
        "the job in full: validation report and log",
    ),
    row(&[Cmd(Filter)], "filter the history (words below)"),
    row(&[Fixed("esc")], "clear the history filter"),
    row(&[Cmd(Refresh)], "read the history again"),
];

const VM_FILTER: &[Row] = &[
    row(&[Text], "part of the name, any case"),
    row(&[Fixed("backspace")], "delete a character"),
    row(&[Fixed("up"), Fixed("down")], "move in the list"),
    row(&[Fixed("enter")], "keep the filter"),
    row(&[Fixed("esc")], "clear the filter"),
];

const HISTORY_FILTER: &[Row] = &[
    row(&[Text], "filter words, applied as typed (below)"),
    row(&[Fixed("backspace")], "delete a character"),
    row(&[Fixed("up"), Fixed("down")], "move in the list"),
    row(&[Fixed("enter")], "keep the filter"),
    row(&[Fixed("esc")], "clear the filter"),
];

const REPO_LIST: &[Row] = &[
    row(&[Cmd(Up), Cmd(Down)], "select a snapshot"),
    row(&[Cmd(Top), Cmd(Bottom)], "first, last snapshot"),
    row(
        &[Fixed("R")],
        "restore the snapshot: host, new name, checks",
    ),
    row(&[Fixed("v")], "verify it: every chunk present"),
    row(&[Fixed("V")], "verify it reading every chunk"),
    row(&[Fixed("P")], "prune: keep rules, dry run, then apply"),
    row(&[Fixed("r")], "read the repository again"),
    row(&[Fixed("o")], "open another repository"),
    row(&[Cmd(Help)], "this help"),
    row(&[Fixed("esc"), Cmd(Quit)], "close the view"),
];

const SCHEDULES: &[Row] = &[
    row(&[Cmd(Up), Cmd(Down)], "select a schedule"),
    row(&[Cmd(Top), Cmd(Bottom)], "first, last schedule"),
    row(
        &[Fixed("enter")],
        "ask the daemon to run it now (never beside its own run)",
    ),
    row(&[Cmd(Help)], "this help"),
    row(&[Fixed("esc"), Cmd(Quit), Cmd(Schedules)], "close the view"),
];

const REPO_OPEN: &[Row] = &[
    row(&[Text], "the path, or the passphrase (shown as *)"),
    row(&[Fixed("backspace")], "delete a character"),
    row(&[Fixed("ctrl-u")], "clear"),
    row(
        &[Fixed("enter")],
        "open the repository; offers to create a missing one",
    ),
    row(&[Fixed("esc")], "close the view"),
];

const REPO_VERIFIED: &[Row] = &[
    row(&[Fixed("F")], "remove the damaged chunk files (asks first)"),
    row(&[Cmd(Help)], "this help"),
    row(
        &[Fixed("esc"), Fixed("enter"), Cmd(Quit)],
        "back to the snapshots",
    ),
];

const REPO_REPAIR: &[Row] = &[
    row(
        &[Fixed("y")],
        "remove them; the next export stores that data again",
    ),
    row(&[Other], "keep them"),
];

const REPO_PRUNE_FORM: &[Row] = &[
    row(&[Digits], "how many to keep by this rule"),
    row(&[Fixed("tab"), Fixed("down")], "next rule"),
    row(&[Fixed("shift-tab"), Fixed("up")], "previous rule"),
    row(&[Fixed("backspace")], "delete a digit"),
    row(&[Fixed("enter")], "dry run: show what would go"),
    row(&[Fixed("esc")], "back to the snapshots"),
];

const REPO_PRUNE_PLAN: &[Row] = &[
    row(&[Fixed("y")], "apply exactly this prune"),
    row(&[Fixed("n"), Fixed("esc")], "back; nothing is removed"),
];

const REPO_RESTORE: &[Row] = &[
    row(&[Fixed("tab"), Fixed("down")], "next field"),
    row(&[Fixed("shift-tab"), Fixed("up")], "previous field"),
    row(&[Fixed("left"), Fixed("right")], "destination host"),
    row(&[Text], "the new name, in its field"),
    row(
        &[Fixed("backspace"), Fixed("ctrl-u")],
        "delete a character, clear the name",
    ),
    row(&[Fixed("space")], "keep the identity: on or off"),
    row(
        &[Fixed("enter")],
        "run the checks; again to start once none failed",
    ),
    row(&[Fixed("esc")], "back to the snapshots"),
];

const REPO_CREATE: &[Row] = &[
    row(&[Fixed("tab"), Fixed("down")], "next field"),
    row(&[Fixed("shift-tab"), Fixed("up")], "previous field"),
    row(
        &[Fixed("left"), Fixed("right")],
        "encryption: passphrase, age recipients, none",
    ),
    row(&[Text], "the passphrase (twice, shown as *) or recipients"),
    row(
        &[Fixed("backspace"), Fixed("ctrl-u")],
        "delete a character, clear the field",
    ),
    row(
        &[Fixed("enter")],
        "create the repository (then export into it)",
    ),
    row(&[Fixed("esc")], "back: another path"),
];

const ADD_HOST: &[Row] = &[
    row(&[Text], "the field's value"),
    row(&[Fixed("tab"), Fixed("down")], "next field"),
    row(&[Fixed("shift-tab"), Fixed("up")], "previous field"),
    row(&[Fixed("backspace")], "delete a character"),
    row(&[Fixed("enter")], "check the fields and add the host"),
    row(&[Fixed("esc")], "cancel"),
];

const CLONE: &[Row] = &[
    row(
        &[Fixed("tab"), Fixed("shift-tab")],
        "next, previous field: destination, name, profile, button",
    ),
    row(
        &[Fixed("left"), Fixed("right"), Fixed("up"), Fixed("down")],
        "choose the destination host or the profile",
    ),
    row(&[Text], "the new name, in its field"),
    row(
        &[Fixed("backspace"), Fixed("ctrl-u")],
        "delete a character, clear the name",
    ),
    row(&[Fixed("enter")], "run the checks; start once none failed"),
    row(
        &[Fixed("y")],
        "start once the checks passed (outside the name)",
    ),
    row(
        &[Fixed("pageup"), Fixed("pagedown")],
        "scroll the checklist",
    ),
    row(
        &[Fixed("up"), Fixed("down"), Fixed("home"), Fixed("end")],
        "on the button: scroll the checklist",
    ),
    row(
        &[Cmd(SaveProfile)],
        "save the profile's settings as a user profile",
    ),
    row(&[Fixed("esc")], "close without starting"),
];

const SAVE_PROFILE: &[Row] = &[
    row(&[Text], "the profile's name"),
    row(
        &[Fixed("backspace"), Fixed("ctrl-u")],
        "delete a character, clear the name",
    ),
    row(
        &[Fixed("enter")],
        "save it (replacing your own asks for a second enter)",
    ),
    row(&[Fixed("esc")], "back to the dialog"),
];

const PROFILES: &[Row] = &[
    row(&[Cmd(Up), Cmd(Down)], "select a profile"),
    row(&[Cmd(Top), Cmd(Bottom)], "first, last profile"),
    row(&[Fixed("enter")], "open the clone or export dialog with it"),
    row(&[Fixed("tab")], "clone profiles, export profiles"),
    row(&[Fixed("e")], "edit its settings, then save"),
    row(&[Cmd(Help)], "this help"),
    row(&[Fixed("esc"), Cmd(Quit), Cmd(Profiles)], "close"),
];

const PROFILE_EDIT: &[Row] = &[
    row(&[Fixed("tab"), Fixed("down")], "next setting"),
    row(&[Fixed("shift-tab"), Fixed("up")], "previous setting"),
    row(
        &[Fixed("left"), Fixed("right")],
        "change a choice: running VM, format, verify",
    ),
    row(
        &[Text],
        "name, bandwidth, connections, requests, keep rules",
    ),
    row(
        &[Fixed("backspace"), Fixed("ctrl-u")],
        "delete a character, clear the field",
    ),
    row(
        &[Fixed("enter")],
        "save (a built-in under a new name; your own in its file)",
    ),
    row(&[Fixed("esc")], "back to the menu, unsaved"),
];

const EXPORT: &[Row] = &[
    row(&[Fixed("tab"), Fixed("down")], "next field"),
    row(&[Fixed("shift-tab"), Fixed("up")], "previous field"),
    row(
        &[Fixed("left"), Fixed("right")],
        "choose the export profile",
    ),
    row(
        &[Text],
        "the repository path, or its passphrase (shown as *)",
    ),
    row(
        &[Fixed("backspace"), Fixed("ctrl-u")],
        "delete a character, clear the field",
    ),
    row(
        &[Fixed("enter")],
        "queue the export; offers to create a missing repository",
    ),
    row(&[Fixed("esc")], "cancel"),
];

const HOST_KEY: &[Row] = &[
    row(
        &[Fixed("y"), Fixed("a")],
        "accept the key and save it to known_hosts",
    ),
    row(&[Fixed("n"), Fixed("esc")], "reject it"),
];

const PASSPHRASE: &[Row] = &[
    row(&[Text], "the passphrase, shown as *"),
    row(
        &[Fixed("backspace"), Fixed("ctrl-u")],
        "delete a character, clear",
    ),
    row(&[Fixed("enter")], "unlock the key"),
    row(&[Fixed("esc")], "not now; enter on the host asks again"),
];

const CONFIRM_QUIT: &[Row] = &[
    row(&[Fixed("y")], "quit; running jobs are stopped"),
    row(&[Fixed("n"), Fixed("esc")], "stay"),
];

const CONFIRM_CANCEL: &[Row] = &[
    row(&[Fixed("y")], "cancel the job; it removes what it created"),
    row(&[Fixed("n"), Fixed("esc")], "keep it running"),
];

const VM_DETAIL: &[Row] = &[
    row(&[Cmd(Up), Cmd(Down)], "scroll a line"),
    row(&[Cmd(PageUp), Cmd(PageDown)], "scroll a page"),
    row(&[Cmd(Top), Cmd(Bottom)], "top, bottom"),
    row(&[Cmd(Help)], "this help"),
    row(&[Fixed("esc"), Cmd(Details), Cmd(Quit)], "close"),
];

const JOB_DETAIL: &[Row] = &[
    row(&[Cmd(Up), Cmd(Down)], "scroll a line"),
    row(&[Cmd(PageUp), Cmd(PageDown)], "scroll a page"),
    row(&[Cmd(Top)], "top"),
    row(&[Cmd(Bottom)], "bottom, and follow new log lines"),
    row(&[Cmd(Help)], "this help"),
    row(&[Fixed("esc"), Cmd(Details), Cmd(Quit)], "close"),
];

const HISTORY_DETAIL: &[Row] = VM_DETAIL;

const HELP: &[Row] = &[
    row(&[Cmd(Up), Cmd(Down)], "scroll a line"),
    row(&[Cmd(PageUp), Cmd(PageDown)], "scroll a page"),
    row(&[Cmd(Top), Cmd(Bottom)], "top, bottom"),
    row(&[Fixed("esc"), Cmd(Help), Cmd(Quit), Cmd(Details)], "close"),
];
