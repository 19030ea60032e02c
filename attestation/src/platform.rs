//! What the platform lets this process see about itself.
//!
//! These are signs, not proof: anything running with the same privileges
//! as the app can lie to it. They raise the cost of casual tampering and
//! give monitoring something to look at; a TPM quote or a platform
//! attestation service is the stronger answer where one exists.
//!
//! The parsers are pure functions over file contents so they can be tested
//! with fixtures; [`PlatformFacts::probe`] does the reading.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// Platform facts that go into [`Evidence`](crate::Evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformFacts {
    /// SHA-256 of the running executable, lowercase hex; empty if it could
    /// not be read (the verifier then rejects it as not allowed).
    pub app_binary_sha256: String,
    pub os: String,
    pub os_version: String,
    pub debugger_attached: bool,
    pub emulator: bool,
    pub rooted: bool,
    /// Short human-readable reasons behind the three flags above, e.g.
    /// `"tracer pid 4242"`, `"runs as uid 0"`, `"dmi vendor QEMU"`.
    pub signs: Vec<String>,
}

/// Paths whose existence means a su binary or a root manager on Android.
const ROOT_PATHS: &[&str] = &[
    "/system/bin/su",
    "/system/xbin/su",
    "/sbin/su",
    "/system/app/Superuser.apk",
    "/data/adb/magisk",
    "/data/adb/ksu",
];

/// Device nodes that exist only inside the Android emulator.
const EMULATOR_PATHS: &[&str] = &["/dev/qemu_pipe", "/dev/goldfish_pipe", "/dev/socket/qemud"];

/// Vendor strings of virtual machines and emulators, matched
/// case-insensitively against DMI and `/proc/cpuinfo` `Hardware`.
const EMULATOR_VENDORS: &[&str] = &[
    "qemu",
    "bochs",
    "virtualbox",
    "innotek",
    "vmware",
    "parallels",
    "goldfish",
    "ranchu",
    "android sdk",
];

impl PlatformFacts {
    /// Reads what this process can see. Never fails: an unreadable source
    /// contributes nothing, which errs towards "no sign found" for the
    /// flags and towards rejection for the binary hash.
    pub fn probe() -> Self {
        let mut signs = Vec::new();

        let status = read_small("/proc/self/status");
        let tracer = status.as_deref().and_then(parse_tracer_pid).unwrap_or(0);
        let debugger_attached = tracer != 0;
        if debugger_attached {
            signs.push(format!("tracer pid {tracer}"));
        }

        let mut rooted = false;
        if status.as_deref().and_then(parse_effective_uid) == Some(0) {
            rooted = true;
            signs.push("runs as uid 0".to_string());
        }
        for p in ROOT_PATHS {
            if Path::new(p).exists() {
                rooted = true;
                signs.push(format!("found {p}"));
            }
        }

        let mut emulator = false;
        for p in [
            "/sys/class/dmi/id/sys_vendor",
            "/sys/class/dmi/id/product_name",
        ] {
            if let Some(v) = read_small(p).as_deref().and_then(emulator_vendor) {
                emulator = true;
                signs.push(format!("dmi vendor {v}"));
            }
        }
        if let Some(hw) = read_small("/proc/cpuinfo")
            .as_deref()
            .and_then(cpuinfo_hardware)
        {
            if let Some(v) = emulator_vendor(&hw) {
                emulator = true;
                signs.push(format!("cpu hardware {v}"));
            }
        }
        for p in EMULATOR_PATHS {
            if Path::new(p).exists() {
                emulator = true;
                signs.push(format!("found {p}"));
            }
        }

        let release = read_small("/etc/os-release")
            .map(|t| parse_os_release(&t))
            .unwrap_or_default();
        let kernel = read_small("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();

        Self {
            app_binary_sha256: self_binary_sha256(),
            os: os_name(std::env::consts::OS, release.id.as_deref()),
            os_version: os_version(release.version_id.as_deref(), &kernel),
            debugger_attached,
            emulator,
            rooted,
            signs,
        }
    }
}

/// The fields of `/etc/os-release` we use.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub id: Option<String>,
    pub version_id: Option<String>,
}

/// Parses `os-release(5)`: `KEY=value` lines, values optionally quoted.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut out = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        if v.is_empty() {
            continue;
        }
        match k.trim() {
            "ID" => out.id = Some(v),
            "VERSION_ID" => out.version_id = Some(v),
            _ => {}
        }
    }
    out
}

/// `TracerPid:` from `/proc/<pid>/status`; non-zero means a debugger or
/// other ptrace user is attached.
pub fn parse_tracer_pid(status: &str) -> Option<u64> {
    status_field(status, "TracerPid:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The effective uid, the second number of the `Uid:` line.
pub fn parse_effective_uid(status: &str) -> Option<u32> {
    status_field(status, "Uid:")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key))
}

/// The emulator vendor named in `text`, if any.
pub fn emulator_vendor(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    EMULATOR_VENDORS.iter().copied().find(|v| lower.contains(v))
}

/// The `Hardware` line of `/proc/cpuinfo` (ARM and Android kernels).
pub fn cpuinfo_hardware(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "Hardware").then(|| v.trim().to_string())
    })
}

fn os_name(family: &str, distro: Option<&str>) -> String {
    match distro {
        Some(d) => format!("{family}/{d}"),
        None => family.to_string(),
    }
}

fn os_version(version_id: Option<&str>, kernel: &str) -> String {
    match (version_id, kernel.is_empty()) {
        (Some(v), false) => format!("{v}; kernel {kernel}"),
        (Some(v), true) => v.to_string(),
        (None, false) => format!("kernel {kernel}"),
        (None, true) => String::new(),
    }
}

/// Reads at most 64 KiB: these are tiny kernel files and a huge one is
/// not one we mean to trust.
fn read_small(path: &str) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(64 * 1024).read_to_string(&mut s).ok()?;
    Some(s)
}

/// SHA-256 of the running executable, computed once per process: the
/// mapped image cannot change under us, and hashing a large binary on every
/// attestation would be wasted work.
pub fn self_binary_sha256() -> String {
    static CACHE: OnceLock<String> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let path = if Path::new("/proc/self/exe").exists() {
                Some(std::path::PathBuf::from("/proc/self/exe"))
            } else {
                std::env::current_exe().ok()
            };
            path.and_then(|p| file_sha256(&p).ok()).unwrap_or_default()
        })
        .clone()
}

/// SHA-256 of a file, lowercase hex. Used for the running binary and by
/// build tooling to compute the allow-list entry of a release.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(ctx.finish().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_TRACED: &str = "Name:\tsoftpos\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4300\nPid:\t4300\nPPid:\t4242\nTracerPid:\t4242\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n";
    const STATUS_ROOT: &str = "Name:\tsoftpos\nTracerPid:\t0\nUid:\t1000\t0\t0\t0\n";

    #[test]
    fn tracer_pid_and_uid() {
        assert_eq!(parse_tracer_pid(STATUS_TRACED), Some(4242));
        assert_eq!(parse_tracer_pid(STATUS_ROOT), Some(0));
        assert_eq!(parse_tracer_pid("Name:\tx\n"), None);
        assert_eq!(parse_tracer_pid("TracerPid:\tabc\n"), None);
        assert_eq!(parse_effective_uid(STATUS_TRACED), Some(1000));
        // Real uid 1000 but effective 0: setuid root counts as root.
        assert_eq!(parse_effective_uid(STATUS_ROOT), Some(0));
        assert_eq!(parse_effective_uid("Uid:\t5\n"), None);
    }

    #[test]
    fn os_release() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        let r = parse_os_release(t);
        assert_eq!(r.id.as_deref(), Some("debian"));
        assert_eq!(r.version_id.as_deref(), Some("12"));
        assert_eq!(parse_os_release("garbage\n=\nID=\n"), OsRelease::default());
        assert_eq!(os_name("linux", Some("debian")), "linux/debian");
        assert_eq!(
            os_version(Some("12"), "6.1.0-13-amd64"),
            "12; kernel 6.1.0-13-amd64"
        );
        assert_eq!(os_version(None, ""), "");
    }

    #[test]
    fn emulator_vendors() {
        assert_eq!(emulator_vendor("QEMU\n"), Some("qemu"));
        assert_eq!(emulator_vendor("innotek GmbH"), Some("innotek"));
        assert_eq!(emulator_vendor("LENOVO"), None);
        let cpu = "processor\t: 0\nBogoMIPS\t: 38.40\nHardware\t: Goldfish\n";
        assert_eq!(cpuinfo_hardware(cpu).as_deref(), Some("Goldfish"));
        assert_eq!(cpuinfo_hardware("processor\t: 0\n"), None);
    }

    #[test]
    fn probe_hashes_this_binary() {
        let facts = PlatformFacts::probe();
        assert_eq!(facts.app_binary_sha256.len(), 64);
        let direct = file_sha256(&std::env::current_exe().unwrap()).unwrap();
        assert_eq!(facts.app_binary_sha256, direct);
        assert!(facts.os.starts_with(std::env::consts::OS));
        // Flags and reasons agree: a flag never stands without a reason.
        let any = facts.debugger_attached || facts.emulator || facts.rooted;
        assert_eq!(any, !facts.signs.is_empty());
    }
}
