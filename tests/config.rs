//! Config layer: parsing and its error messages, file resolution order,
//! ~/.ssh/config aliases, and appending hosts.

use kvm_clone::config::{
    self, ConfigError, ConfigOrigin, HostConfig, ResolveEnv, load_from, parse, resolve_with,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const P: &str = "/etc/kvm-clone/config.toml";

fn reject(text: &str) -> (usize, Option<usize>, String, String) {
    match parse(text, Path::new(P)) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e @ ConfigError::Invalid { .. }) => {
            let shown = e.to_string();
            let ConfigError::Invalid {
                line,
                column,
                message,
                path,
            } = e
            else {
                unreachable!()
            };
            assert_eq!(path, Path::new(P));
            (line, column, message, shown)
        }
        Err(e) => panic!("unexpected error kind: {e:?}"),
    }
}

const ALPHA: &str = r#"# lab
[[hosts]]
name = "alpha"
address = "10.0.0.1"
"#;

#[test]
fn syntax_error_has_line_and_column() {
    let (line, col, msg, _) = reject("known_hosts = []\n[[hosts]\nname = \"a\"\n");
    assert_eq!((line, col), (2, Some(9)));
    assert!(msg.contains("unclosed array table"), "{msg}");
}

#[test]
fn duplicate_key_is_a_syntax_error() {
    let (line, _, msg, _) = reject(&format!("{ALPHA}address = \"10.0.0.2\"\n"));
    assert_eq!(line, 5);
    assert!(msg.contains("duplicate key"), "{msg}");
}

#[test]
fn unknown_host_field_names_entry_and_expected_fields() {
    let text = format!("{ALPHA}\n[[hosts]]\nname = \"beta\"\nadress = \"10.0.0.2\"\n");
    let (line, col, _, shown) = reject(&text);
    assert_eq!((line, col), (8, Some(1)));
    assert_eq!(
        shown,
        "/etc/kvm-clone/config.toml:8:1: unknown field `adress` in [[hosts]] entry \"beta\"; \
         expected one of name, ssh_alias, address, port, user, identity_files, libvirt_uri, pool"
    );
}

#[test]
fn unknown_fields_elsewhere() {
    let (line, _, msg, _) = reject("verbose = true\n");
    assert_eq!(line, 1);
    assert!(msg.starts_with("unknown field `verbose` at the top level; expected one of hosts, known_hosts, keys, clone"), "{msg}");

    let (line, _, msg, _) = reject(&format!(
        "{ALPHA}\n[clone]\ncompress = true\nverfy = false\n"
    ));
    assert_eq!(line, 8);
    assert!(
        msg.starts_with(
            "unknown field `verfy` in [clone]; expected one of compress, verify, bandwidth_limit"
        ),
        "{msg}"
    );

    // Inline-table form of the hosts array, unnamed entry.
    let (line, col, msg, _) = reject("\nhosts = [{ adress = \"x\" }]\n");
    assert_eq!((line, col), (2, Some(12)));
    assert!(
        msg.starts_with("unknown field `adress` in [[hosts]] entry #1;"),
        "{msg}"
    );
}

#[test]
fn wrong_types() {
    let (line, col, msg, _) = reject(&format!("{ALPHA}port = \"22\"\n"));
    assert_eq!((line, col), (5, Some(8)));
    assert_eq!(
        msg,
        "port in [[hosts]] entry \"alpha\": invalid type: string \"22\", expected a port number 1-65535"
    );

    let (line, _, msg, _) = reject(&format!("{ALPHA}port = 70000\n"));
    assert_eq!(line, 5);
    assert!(msg.contains("70000"), "{msg}");

    let (line, _, msg, _) = reject("known_hosts = \"/x\"\n");
    assert_eq!(line, 1);
    assert!(
        msg.starts_with("known_hosts: invalid type: string"),
        "{msg}"
    );

    let (line, _, msg, _) = reject("[keys]\nquit = \"q\"\n");
    assert_eq!(line, 2);
    assert!(msg.starts_with("quit in [keys]: invalid type"), "{msg}");

    let (line, _, msg, _) = reject("[[hosts]]\naddress = \"10.0.0.1\"\n");
    assert_eq!(line, 1);
    assert_eq!(msg, "[[hosts]] entry #1: missing field `name`");
}

#[test]
fn port_zero() {
    let (line, col, msg, _) = reject(&format!("{ALPHA}port = 0\n"));
    assert_eq!((line, col), (5, Some(8)));
    assert_eq!(
        msg,
        "port in [[hosts]] entry \"alpha\": 0 is not a valid port (1-65535)"
    );
}

#[test]
fn bad_host_names() {
    let (line, _, msg, _) = reject("# c\n[[hosts]]\nname = \"\"\naddress = \"h\"\n");
    assert_eq!(line, 3);
    assert_eq!(msg, "name in [[hosts]] entry #1: empty host name");

    let (line, _, msg, _) = reject("[[hosts]]\naddress = \"h\"\nname = \"web 01\"\n");
    assert_eq!(line, 3);
    assert!(
        msg.contains("contains ' '; use only letters, digits"),
        "{msg}"
    );

    let long = "a".repeat(65);
    let (line, _, msg, _) = reject(&format!("[[hosts]]\nname = \"{long}\"\naddress = \"h\"\n"));
    assert_eq!(line, 2);
    assert!(msg.contains("longer than 64"), "{msg}");
    assert!(
        parse(
            &format!(
                "[[hosts]]\nname = \"{}\"\naddress = \"h\"\n",
                "a".repeat(64)
            ),
            Path::new(P)
        )
        .is_ok()
    );
}

#[test]
fn bad_libvirt_uri_and_pool() {
    let (line, _, msg, _) = reject(&format!(
        "{ALPHA}libvirt_uri = \"qemu+ssh://root@h/system\"\n"
    ));
    assert_eq!(line, 5);
    assert!(msg.starts_with("libvirt_uri in [[hosts]] entry \"alpha\": \"qemu+ssh://root@h/system\" is not supported"), "{msg}");

    let (line, _, msg, _) = reject(&format!("{ALPHA}pool = \"\"\n"));
    assert_eq!(line, 5);
    assert_eq!(msg, "pool in [[hosts]] entry \"alpha\": empty pool name");
}

#[test]
fn bad_addresses() {
    let (line, _, msg, _) = reject("[[hosts]]\nname = \"a\"\naddress = \"[::1]\"\n");
    assert_eq!(line, 3);
    assert!(msg.contains("without brackets"), "{msg}");
    let (_, _, msg, _) = reject("[[hosts]]\nname = \"a\"\naddress = \"-oProxyCommand=sh\"\n");
    assert!(msg.contains("not a host name or IP address"), "{msg}");
}

#[test]
fn duplicate_names_point_at_second_and_name_first() {
    let text = format!(
        "{ALPHA}\n[[hosts]]\nname = \"beta\"\naddress = \"b\"\n\n[[hosts]]\naddress = \"c\"\nname = \"Alpha\"\n"
    );
    let (line, col, msg, _) = reject(&text);
    assert_eq!((line, col), (12, Some(8)));
    assert_eq!(
        msg,
        "duplicate host name \"Alpha\" (first defined at line 3)"
    );
}

#[test]
fn neither_address_nor_alias() {
    let text = format!("{ALPHA}\n[[hosts]]\nname = \"beta\"\nport = 22\n");
    let (line, col, msg, _) = reject(&text);
    assert_eq!((line, col), (6, Some(1)));
    assert_eq!(
        msg,
        "[[hosts]] entry \"beta\" has neither address nor ssh_alias; set one of them"
    );
}

#[test]
fn bad_bandwidth_limit() {
    let (line, _, msg, _) = reject("[clone]\nbandwidth_limit = \"fast\"\n");
    assert_eq!(line, 2);
    assert!(
        msg.starts_with("bandwidth_limit in [clone]: \"fast\" is not a rate"),
        "{msg}"
    );
    let (_, _, msg, _) = reject("[clone]\nbandwidth_limit = 0\n");
    assert!(msg.contains("leave bandwidth_limit out"), "{msg}");
}

#[test]
fn good_file_parses() {
    let text = r#"
# Operators' hosts
known_hosts = ["/etc/kvm-clone/known_hosts"]

[[hosts]]
name = "kvm1"
ssh_alias = "kvm1-mgmt"   # HostName etc. come from ~/.ssh/config

[[hosts]]
name = "kvm-2.lab"
address = "2001:db8::2"
port = 2200
user = "ops"
identity_files = ["~/.ssh/kvm_ed25519"]
libvirt_uri = "qemu:///session"
pool = "fast"

[keys]
quit = ["q", "ctrl-c"]
refresh = ["F5"]

[clone]
compress = false
bandwidth_limit = "50MiB/s"
"#;
    let c = parse(text, Path::new(P)).unwrap();
    assert_eq!(
        c.known_hosts,
        vec![PathBuf::from("/etc/kvm-clone/known_hosts")]
    );
    assert_eq!(c.hosts.len(), 2);
    let k1 = &c.hosts[0];
    assert_eq!(k1.ssh_alias.as_deref(), Some("kvm1-mgmt"));
    assert_eq!(
        (k1.address.as_deref(), k1.port, k1.user.as_deref()),
        (None, None, None)
    );
    assert_eq!(
        (k1.libvirt_uri.as_str(), k1.pool.as_str()),
        ("qemu:///system", "default")
    );
    let k2 = &c.hosts[1];
    assert_eq!(k2.address.as_deref(), Some("2001:db8::2"));
    assert_eq!((k2.port, k2.user.as_deref()), (Some(2200), Some("ops")));
    assert_eq!(k2.identity_files, vec![PathBuf::from("~/.ssh/kvm_ed25519")]);
    assert_eq!(
        (k2.libvirt_uri.as_str(), k2.pool.as_str()),
        ("qemu:///session", "fast")
    );
    assert_eq!(c.keys["quit"], vec!["q".to_string(), "ctrl-c".to_string()]);
    let clone = c.clone.clone().unwrap();
    assert!(!clone.compress && clone.verify);
    assert_eq!(clone.bandwidth_limit, Some(50 << 20));
    assert_eq!(c.host("KVM1").map(|h| h.name.as_str()), Some("kvm1"));

    let empty = parse("", Path::new(P)).unwrap();
    assert!(empty.hosts.is_empty() && empty.clone.is_none());
    assert!(empty.clone_settings().compress);
}

#[test]
fn lab_config_parses() {
    let dir = std::env::var_os("KVM_CLONE_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lab"));
    let file = dir.join("config.toml");
    let Ok(text) = fs::read_to_string(&file) else {
        eprintln!("no lab config at {}; skipped", file.display());
        return;
    };
    let c = parse(&text, &file).unwrap();
    let names: Vec<_> = c.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    let env = ResolveEnv {
        home: None,
        user: None,
    };
    let a = resolve_with(&c.hosts[0], None, &env).unwrap();
    assert_eq!(a.endpoint(), "root@127.0.0.1:2222");
    assert_eq!(a.known_hosts_name(), "[127.0.0.1]:2222");
}

// ---- resolution order of the config file ----

#[test]
fn config_path_resolution_order() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, host: &str| {
        let p = tmp.path().join(name);
        fs::write(
            &p,
            format!("[[hosts]]\nname = \"{host}\"\naddress = \"h\"\n"),
        )
        .unwrap();
        p
    };
    let explicit = write("explicit.toml", "from-explicit");
    let env = write("env.toml", "from-env");
    let default = write("default.toml", "from-default");
    let first = |l: &config::LoadedConfig| l.config.hosts[0].name.clone();

    let l = load_from(
        Some(&explicit),
        Some(env.clone().into()),
        Some(default.clone()),
    )
    .unwrap();
    assert_eq!(
        (first(&l), l.origin, l.exists),
        ("from-explicit".into(), ConfigOrigin::Explicit, true)
    );
    assert_eq!(l.path, explicit);

    let l = load_from(None, Some(env.clone().into()), Some(default.clone())).unwrap();
    assert_eq!(
        (first(&l), l.origin),
        ("from-env".into(), ConfigOrigin::Env)
    );

    let l = load_from(None, Some("".into()), Some(default.clone())).unwrap();
    assert_eq!(
        (first(&l), l.origin),
        ("from-default".into(), ConfigOrigin::Default)
    );

    let l = load_from(None, None, Some(default.clone())).unwrap();
    assert_eq!(first(&l), "from-default");
}

#[test]
fn missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope/config.toml");

    let l = load_from(None, None, Some(missing.clone())).unwrap();
    assert!(!l.exists);
    assert_eq!(l.path, missing);
    assert_eq!(l.config, config::Config::default());

    let e = load_from(Some(&missing), None, None).unwrap_err();
    assert!(matches!(
        e,
        ConfigError::NotFound {
            origin: ConfigOrigin::Explicit,
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        format!(
            "config file {} (named by --config) does not exist",
            missing.display()
        )
    );

    let e = load_from(None, Some(missing.clone().into()), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "config file {} (named by KVM_CLONE_CONFIG) does not exist",
            missing.display()
        )
    );

    assert!(matches!(
        load_from(None, None, None),
        Err(ConfigError::NoDefaultPath)
    ));
}

#[test]
fn load_reports_parse_errors_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("c.toml");
    fs::write(&p, "[[hosts]]\nname = \"a\"\n").unwrap();
    let e = load_from(Some(&p), None, None).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:1:1: [[hosts]] entry \"a\" has neither address nor ssh_alias; set one of them",
            p.display()
        )
    );
}

#[test]
fn load_reads_the_process_env_variable() {
    // The only test that touches KVM_CLONE_CONFIG.
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("c.toml");
    fs::write(&p, ALPHA).unwrap();
    // SAFETY: no other test in this binary reads or writes this variable.
    unsafe { std::env::set_var(kvm_clone::paths::CONFIG_ENV, &p) };
    let l = config::load(None);
    unsafe { std::env::remove_var(kvm_clone::paths::CONFIG_ENV) };
    let l = l.unwrap();
    assert_eq!(
        (l.origin, l.path.as_path()),
        (ConfigOrigin::Env, p.as_path())
    );
    assert_eq!(l.config.hosts[0].name, "alpha");
}

// ---- ~/.ssh/config aliases ----

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(ssh_config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".ssh")).unwrap();
        fs::write(dir.path().join(".ssh/config"), ssh_config).unwrap();
        Home { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn env(&self) -> ResolveEnv {
        ResolveEnv {
            home: Some(self.path().to_path_buf()),
            user: Some("operator".into()),
        }
    }
    fn resolve(&self, host: &HostConfig) -> Result<config::ResolvedHost, ConfigError> {
        resolve_with(host, None, &self.env())
    }
}

fn alias_host(name: &str, alias: &str) -> HostConfig {
    let mut h = HostConfig::new(name, "unused");
    h.address = None;
    h.ssh_alias = Some(alias.into());
    h
}

#[test]
fn alias_values_come_from_ssh_config() {
    let home = Home::new(
        "# mine\nHost kvm1\n  HostName 10.1.0.1\n  Port=2201\n  user admin\n  IdentityFile ~/.ssh/kvm_%r_%h\n\
         IDENTITYFILE \"%d/.ssh/with space\"\n",
    );
    let r = home.resolve(&alias_host("k1", "kvm1")).unwrap();
    assert_eq!(r.address, "10.1.0.1");
    assert_eq!(r.port, 2201);
    assert_eq!(r.user, "admin");
    let ssh = home.path().join(".ssh");
    assert_eq!(
        r.identity_files,
        vec![ssh.join("kvm_admin_10.1.0.1"), ssh.join("with space")]
    );
    assert_eq!(r.endpoint(), "admin@10.1.0.1:2201");
}

#[test]
fn wildcards_and_first_value_wins() {
    let home = Home::new(
        "Host kvm?\n  User first\n  IdentityFile ~/.ssh/a\n\
         Host kvm1 other\n  User second\n  Port 2022\n  IdentityFile ~/.ssh/b\n\
         Host *\n  User fallback\n  Port 2999\n  HostName %h.lab.example\n",
    );
    let r = home.resolve(&alias_host("k", "KVM1")).unwrap();
    assert_eq!(r.user, "first");
    assert_eq!(r.port, 2022);
    // Like ssh, %h is the alias lowercased.
    assert_eq!(r.address, "kvm1.lab.example");
    let ssh = home.path().join(".ssh");
    assert_eq!(r.identity_files, vec![ssh.join("a"), ssh.join("b")]);

    let r = home.resolve(&alias_host("k", "db7")).unwrap();
    assert_eq!(
        (r.user.as_str(), r.port, r.address.as_str()),
        ("fallback", 2999, "db7.lab.example")
    );
}

#[test]
fn negation_excludes_a_host() {
    let home = Home::new("Host *.lab !bad.lab\n  Port 2200\n");
    let good = home.resolve(&alias_host("g", "good.lab")).unwrap();
    assert_eq!(good.port, 2200);
    let bad = home.resolve(&alias_host("b", "bad.lab")).unwrap();
    assert_eq!(bad.port, 22);
    // No HostName: the alias itself is the address, as with ssh.
    assert_eq!(bad.address, "bad.lab");
}

#[test]
fn include_relative_to_ssh_dir_with_glob() {
    let home = Home::new("Include conf.d/*.conf\nHost kvm1\n  User late\n  Port 2001\n");
    home.write(".ssh/conf.d/10-kvm.conf", "Host kvm1\n  User fromfile\n");
    home.write(
        ".ssh/conf.d/20-kvm.conf",
        "Host kvm1\n  HostName 10.9.9.9\n  User ignored\n",
    );
    home.write(".ssh/conf.d/ignored.txt", "Host kvm1\n  Port 1\n");
    let r = home.resolve(&alias_host("k", "kvm1")).unwrap();
    assert_eq!(
        (r.user.as_str(), r.address.as_str(), r.port),
        ("fromfile", "10.9.9.9", 2001)
    );
}

#[test]
fn include_inside_host_block_is_conditional_and_nests() {
    let home = Home::new("Host kvm1\n  Include ~/.ssh/kvm1.conf\nHost *\n  Port 2500\n");
    home.write(".ssh/kvm1.conf", "Include deeper.conf\n");
    home.write(".ssh/deeper.conf", "HostName 10.0.0.7\n");
    let r = home.resolve(&alias_host("k", "kvm1")).unwrap();
    assert_eq!((r.address.as_str(), r.port), ("10.0.0.7", 2500));
    let r = home.resolve(&alias_host("o", "other")).unwrap();
    assert_eq!((r.address.as_str(), r.port), ("other", 2500));
}

#[test]
fn match_blocks_are_skipped() {
    let home = Home::new("Match host kvm1\n  Port 1111\nHost kvm1\n  Port 2222\n");
    assert_eq!(home.resolve(&alias_host("k", "kvm1")).unwrap().port, 2222);
}

#[test]
fn ipv6_hostname_and_address() {
    let home = Home::new("Host v6\n  HostName ::1\n  User root\n");
    let r = home.resolve(&alias_host("v", "v6")).unwrap();
    assert_eq!(r.address, "::1");
    assert_eq!(r.endpoint(), "root@[::1]:22");
    assert_eq!(r.known_hosts_name(), "::1");

    let mut h = HostConfig::new("v", "2001:db8::1");
    h.port = Some(2222);
    h.user = Some("ops".into());
    let r = home.resolve(&h).unwrap();
    assert_eq!(r.endpoint(), "ops@[2001:db8::1]:2222");
    assert_eq!(r.known_hosts_name(), "[2001:db8::1]:2222");
}

#[test]
fn explicit_fields_win_over_alias() {
    let home = Home::new(
        "Host kvm1\n  HostName 10.1.0.1\n  Port 2201\n  User admin\n  IdentityFile ~/.ssh/from_ssh\n",
    );
    let mut h = alias_host("k", "kvm1");
    h.address = Some("192.0.2.5".into());
    h.port = Some(2022);
    h.user = Some("root".into());
    h.identity_files = vec!["~/keys/mine".into()];
    let r = home.resolve(&h).unwrap();
    assert_eq!(
        (r.address.as_str(), r.port, r.user.as_str()),
        ("192.0.2.5", 2022, "root")
    );
    assert_eq!(r.identity_files, vec![home.path().join("keys/mine")]);
}

#[test]
fn defaults_without_alias() {
    let home = Home::new("Host *\n  User ignored-without-alias\n");
    home.write(".ssh/id_rsa", "x");
    home.write(".ssh/id_ed25519", "x");
    let r = home.resolve(&HostConfig::new("h", "kvm.example")).unwrap();
    assert_eq!((r.port, r.user.as_str()), (22, "operator"));
    let ssh = home.path().join(".ssh");
    assert_eq!(
        r.identity_files,
        vec![ssh.join("id_ed25519"), ssh.join("id_rsa")]
    );
    assert_eq!(
        (r.libvirt_uri.as_str(), r.pool.as_str()),
        ("qemu:///system", "default")
    );

    let env = ResolveEnv {
        home: Some(home.path().into()),
        user: None,
    };
    let r = resolve_with(&HostConfig::new("h", "kvm.example"), None, &env).unwrap();
    assert_eq!(r.user, "root");
}

#[test]
fn explicit_ssh_config_path() {
    let home = Home::new("");
    let other = home.path().join("other_config");
    fs::write(&other, "Host kvm1\n  Port 2345\n").unwrap();
    let r = resolve_with(&alias_host("k", "kvm1"), Some(&other), &home.env()).unwrap();
    assert_eq!(r.port, 2345);
    let missing = home.path().join("missing");
    let e = resolve_with(&alias_host("k", "kvm1"), Some(&missing), &home.env()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
}

#[test]
fn ssh_config_errors_name_file_and_line() {
    let home = Home::new("Host kvm1\n\n  Port twentytwo\n");
    let e = home.resolve(&alias_host("k", "kvm1")).unwrap_err();
    let cfg = home.path().join(".ssh/config");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: Port \"twentytwo\" is not a port number (1-65535)",
            cfg.display()
        )
    );

    let home = Home::new("Host kvm1\n  HostName -oProxyCommand=evil\n");
    let e = home
        .resolve(&alias_host("k", "kvm1"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("host \"k\": HostName in ssh config: "), "{e}");

    // A problem in a block for another host is not this host's problem.
    let home = Home::new("Host other\n  Port zero\n");
    assert!(home.resolve(&alias_host("k", "kvm1")).is_ok());
}

#[test]
fn lookup_reports_whether_a_block_matched() {
    let home = Home::new("");
    let text = "Host *\n  User u\nHost kvm*\n  Port 2\n";
    let p = home.path().join(".ssh/config");
    let o = config::ssh_config::lookup_str(text, &p, "kvm1", home.path()).unwrap();
    assert!(o.matched);
    let o = config::ssh_config::lookup_str(text, &p, "db1", home.path()).unwrap();
    assert!(!o.matched);
    assert_eq!(o.user.as_deref(), Some("u"));
}

// ---- append_host ----

const COMMENTED: &str = r#"# kvm-clone config — hand written
known_hosts = ["/etc/ssh/extra_known_hosts"] # extra file

# The main box.
[[hosts]]
name = "alpha"   # keep me
address = "10.0.0.1"

[keys]
quit = ["q"]
"#;

#[test]
fn append_keeps_comments_and_is_loadable() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("config.toml");
    fs::write(&p, COMMENTED).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();

    let mut beta = HostConfig::new("beta", "fe80::1%eth0");
    beta.port = Some(2222);
    beta.user = Some("root".into());
    beta.identity_files = vec!["/keys/id_ed25519".into()];
    config::append_host(&p, &beta).unwrap();

    let text = fs::read_to_string(&p).unwrap();
    for kept in [
        "# kvm-clone config — hand written",
        "# extra file",
        "# The main box.",
        "name = \"alpha\"   # keep me",
    ] {
        assert!(text.contains(kept), "lost {kept:?}:\n{text}");
    }
    let l = load_from(Some(&p), None, None).unwrap();
    assert_eq!(l.config.hosts.len(), 2);
    assert_eq!(l.config.hosts[1], beta);
    assert_eq!(l.config.keys["quit"], vec!["q".to_string()]);
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // No temporary files left behind.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

    let alias = alias_host("gamma", "gamma-mgmt");
    config::append_host(&p, &alias).unwrap();
    let l = load_from(Some(&p), None, None).unwrap();
    assert_eq!(
        l.config
            .hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta", "gamma"]
    );
    assert_eq!(l.config.hosts[2], alias);
}

#[test]
fn append_creates_file_and_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("new/dir/config.toml");
    let h = HostConfig::new("first", "10.0.0.9");
    config::append_host(&p, &h).unwrap();
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let l = load_from(None, None, Some(p.clone())).unwrap();
    assert!(l.exists);
    assert_eq!(l.config.hosts, vec![h]);
}

#[test]
fn append_to_inline_hosts_array() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("c.toml");
    fs::write(
        &p,
        "# inline\nhosts = [\n  { name = \"a\", address = \"h1\" },\n]\n",
    )
    .unwrap();
    let b = HostConfig::new("b", "h2");
    config::append_host(&p, &b).unwrap();
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("# inline\n"), "{text}");
    let c = parse(&text, &p).unwrap();
    assert_eq!(c.hosts[1], b);
}

#[test]
fn append_refuses_duplicates_and_invalid_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("config.toml");
    fs::write(&p, COMMENTED).unwrap();

    let e = config::append_host(&p, &HostConfig::new("ALPHA", "10.0.0.2")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:6: a host named \"ALPHA\" already exists", p.display())
    );

    let mut bad = HostConfig::new("x", "10.0.0.2");
    bad.port = Some(0);
    let e = config::append_host(&p, &bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid host entry \"x\": port: 0 is not a valid port (1-65535)"
    );

    let mut bad = HostConfig::new("bad name", "10.0.0.2");
    bad.address = None;
    assert!(matches!(
        config::append_host(&p, &bad),
        Err(ConfigError::InvalidHost { .. })
    ));

    assert_eq!(fs::read_to_string(&p).unwrap(), COMMENTED);

    // A file that does not parse is not edited.
    fs::write(&p, "[[hosts]\n").unwrap();
    let e = config::append_host(&p, &HostConfig::new("y", "h")).unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { line: 1, .. }), "{e}");
    assert_eq!(fs::read_to_string(&p).unwrap(), "[[hosts]\n");
}

#[test]
fn append_writes_through_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real.toml");
    fs::write(&real, COMMENTED).unwrap();
    let link = tmp.path().join("link.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    config::append_host(&link, &HostConfig::new("b", "h")).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        parse(&fs::read_to_string(&real).unwrap(), &real)
            .unwrap()
            .hosts
            .len(),
        2
    );
}

#[test]
fn include_loop_is_an_error_not_a_hang() {
    let home = Home::new("Include config\n");
    let e = home
        .resolve(&alias_host("k", "kvm1"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("Include nested more than 16 levels deep"), "{e}");
}

#[test]
fn jobs_limits_parse_with_defaults_and_reject_zero_at_its_line() {
    let c = parse("[jobs]\nper_host = 1\n", Path::new(P)).unwrap();
    let s = c.job_settings();
    assert_eq!((s.per_host, s.max), (1, 4));
    let s = parse("", Path::new(P)).unwrap().job_settings();
    assert_eq!((s.per_host, s.max), (2, 4));

    let (line, _, msg, _) = reject("[jobs]\nper_host = 2\nmax = 0\n");
    assert_eq!(line, 3);
    assert_eq!(msg, "max in [jobs]: must be at least 1");
    let (line, _, msg, _) = reject("[jobs]\nper_hosts = 2\n");
    assert_eq!(line, 2);
    assert!(
        msg.starts_with("unknown field `per_hosts` in [jobs]; expected per_host or max"),
        "{msg}"
    );
    let (line, _, msg, _) = reject("[jobs]\nmax = -1\n");
    assert_eq!(line, 2);
    assert!(msg.starts_with("max in [jobs]:"), "{msg}");
}

/// `[[schedules]]` (issue 19): a bad cron expression, an unknown host and
/// a duplicate name are config errors at their place in the file.
#[test]
fn schedule_errors_name_their_place() {
    let good = format!(
        "{ALPHA}\n[[schedules]]\nname = \"nightly\"\ncron = \"0 2 * * *\"\njob = \"export\"\nhost = \"alpha\"\nvms = [\"web*\"]\nrepo = \"/srv/r\"\n"
    );
    let c = parse(&good, Path::new(P)).expect("a good schedule");
    assert_eq!(c.schedules[0].name, "nightly");
    assert!(c.schedules[0].selects("web01") && !c.schedules[0].selects("db01"));

    let (line, col, msg, _) = reject(&good.replace("0 2 * * *", "at two"));
    assert_eq!((line, col), (8, Some(8)), "{msg}");
    assert!(
        msg.starts_with(
            "cron in [[schedules]] entry \"nightly\": \"at two\" is not a cron expression"
        ),
        "{msg}"
    );

    let (line, _, msg, _) = reject(&good.replace("host = \"alpha\"", "host = \"gamma\""));
    assert_eq!(line, 10, "{msg}");
    assert!(msg.contains("no host named \"gamma\""), "{msg}");

    let twice = format!(
        "{good}\n[[schedules]]\nname = \"nightly\"\ncron = \"@daily\"\njob = \"verify\"\nrepo = \"/srv/r\"\n"
    );
    let (line, _, msg, _) = reject(&twice);
    assert_eq!(line, 15, "{msg}");
    assert!(msg.contains("duplicate schedule name"), "{msg}");

    let (_, _, msg, _) = reject(&good.replace("repo = \"/srv/r\"", "repo = \"r\""));
    assert!(msg.contains("absolute path"), "{msg}");
    let (_, _, msg, _) = reject(&good.replace("job = \"export\"", "job = \"defrag\""));
    assert!(msg.contains("unknown variant"), "{msg}");
}

/// `[notify.email]`: mail in clear only to this machine; addresses checked.
#[test]
fn email_settings_are_checked() {
    let base = "[notify.email]\nhost = \"smtp.example.com\"\nfrom = \"kvm-clone@example.com\"\nto = [\"ops@example.com\"]\n";
    let c = parse(base, Path::new(P)).expect("good e-mail settings");
    let e = c.notify.unwrap().email.unwrap();
    assert_eq!(
        (e.port(), e.sends("failed"), e.sends("done")),
        (587, true, false)
    );
    let (line, _, msg, _) = reject(&format!("{base}tls = \"none\"\n"));
    assert_eq!(line, 5, "{msg}");
    assert!(
        msg.starts_with("tls in [notify.email]: \"none\" sends mail"),
        "{msg}"
    );
    let local = base.replace("smtp.example.com", "127.0.0.1");
    assert!(parse(&format!("{local}tls = \"none\"\n"), Path::new(P)).is_ok());
    let (_, _, msg, _) = reject(&base.replace("ops@example.com", "not an address"));
    assert!(msg.starts_with("to in [notify.email]"), "{msg}");
    let (_, _, msg, _) = reject(&format!("{base}user = \"kvm\"\n"));
    assert!(msg.contains("password_file"), "{msg}");
    let (_, _, msg, _) = reject(&format!("{base}password = \"x\"\n"));
    assert!(msg.contains("unknown field"), "{msg}");
}
