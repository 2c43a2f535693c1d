//! Arguments, CPU time, memory, JSON output.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

/// `--key value` and `--flag` arguments.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
    /// Arguments without a leading `--`.
    pub positional: Vec<String>,
}

impl Args {
    /// Parses `std::env::args()`. `flag_names` are the switches that take no value.
    pub fn parse(flag_names: &[&str]) -> Args {
        let mut a = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.strip_prefix("--") {
                Some(name) if flag_names.contains(&name) => a.flags.push(name.to_owned()),
                Some(name) => {
                    let v = it.next().unwrap_or_else(|| die(&format!("--{name} needs a value")));
                    a.values.insert(name.to_owned(), v);
                }
                None => a.positional.push(arg),
            }
        }
        a
    }

    /// A value, parsed, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.values.get(name) {
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("bad value for --{name}: {v}"))),
            None => default,
        }
    }

    /// A value that must be given.
    pub fn req<T: FromStr>(&self, name: &str) -> T {
        match self.values.get(name) {
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("bad value for --{name}: {v}"))),
            None => die(&format!("--{name} is required")),
        }
    }

    /// A string value, if given.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether a switch was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// Seconds as a float argument.
    pub fn secs(&self, name: &str, default: f64) -> Duration {
        Duration::from_secs_f64(self.get(name, default))
    }
}

/// Prints `msg` and exits with status 2.
pub fn die(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// User + system CPU seconds of this process (all threads), from `getrusage`.
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// User + system CPU seconds of the calling thread, from `getrusage(RUSAGE_THREAD)`.
pub fn thread_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// User + system CPU seconds of process `pid` (all its threads), from `/proc/PID/stat` (clock-tick
/// resolution, 10 ms on most kernels).
pub fn proc_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is f[0]; utime is field 14, stime field 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}

/// Resident set size of process `pid` in bytes, from `/proc/PID/statm`.
pub fn proc_rss(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    Some(pages * page)
}

/// A field (in kB, returned as bytes) of `/proc/PID/status`, e.g. `VmRSS`, `RssAnon`.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    let kb: u64 = line[field.len() + 1..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// Raises the soft limit on open files to the hard limit (10,000 connections need more than 1,024).
pub fn raise_nofile() {
    // SAFETY: get/setrlimit only read and write the struct we pass.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// A JSON object written as one line.
#[derive(Debug, Default)]
pub struct Json(String);

impl Json {
    /// An empty object.
    pub fn new() -> Json {
        Json::default()
    }

    fn key(&mut self, k: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "\"{k}\":");
    }

    /// A string field.
    pub fn str(mut self, k: &str, v: &str) -> Json {
        self.key(k);
        self.0.push('"');
        for c in v.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }

    /// An integer field.
    pub fn int(mut self, k: &str, v: u64) -> Json {
        self.key(k);
        let _ = write!(self.0, "{v}");
        self
    }

    /// A float field (`null` if not finite).
    pub fn num(mut self, k: &str, v: f64) -> Json {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.0, "{v:.6}");
        } else {
            self.0.push_str("null");
        }
        self
    }

    /// A boolean field.
    pub fn bool(mut self, k: &str, v: bool) -> Json {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }

    /// The finished line.
    pub fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// Pins the calling thread to `cpu` (for in-process benchmarks; the runner pins processes with `taskset`).
pub fn pin_thread(cpu: usize) {
    // SAFETY: the set is a plain bit mask on the stack.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line() {
        let j = Json::new().str("a", "x\"y").int("n", 3).num("f", 1.5).bool("b", true).finish();
        assert_eq!(j, r#"{"a":"x\"y","n":3,"f":1.500000,"b":true}"#);
    }

    #[test]
    fn own_cpu_from_proc() {
        assert!(proc_cpu(std::process::id()).is_some());
        assert!(proc_rss(std::process::id()).unwrap() > 0);
        assert!(proc_status_kb(std::process::id(), "VmRSS").unwrap() > 0);
    }
}
