//! The module's settings: read from the environment once at each `C_Initialize`, into
//! one [`Config`] that the rest of the module is given (nothing else reads the
//! environment). The same list is in `include/eimza_pkcs11.h`, pkcs11-spec.md §2.2
//! and README:
//!
//! | variable | meaning |
//! |---|---|
//! | `EIMZA_PKCS11_LOG` | debug log: `stderr` or a file path (unset: no log) |
//! | `EIMZA_PKCS11_LOG_LEVEL` | `error`, `warn`, `info`, `debug` (default), `trace` |
//! | `EIMZA_PKCS11_PCSC` | `0`/`off`/`no`/`false`: no PC/SC readers |
//! | `EIMZA_PKCS11_CARD_WAIT_MS` | longest wait for a card another application holds (30000) |
//! | `EIMZA_PKCS11_CACHE` | `0`/`off`/`no`/`false`: no persistent bind cache |
//! | `XDG_CACHE_HOME`, `HOME` | where the bind cache lives (`$XDG_CACHE_HOME/eimza-pkcs11`, else `$HOME/.cache/eimza-pkcs11`; none on Windows) |
//! | `EIMZA_VIRTUAL_CARD` | software cards `FILE[:FILE...]`, separated like `PATH` (`;` on Windows) (development builds only) |
//! | `EIMZA_VCARD_DELAYS` | their timing, e.g. `rsa=60ms,ecdsa=30ms,apdu=5ms` (development builds only) |

use crate::log::Level;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Where the debug log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}

/// Everything the module reads from its surroundings, once per `C_Initialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `EIMZA_PKCS11_LOG`; `None`: no log.
    pub log: Option<LogTarget>,
    /// `EIMZA_PKCS11_LOG_LEVEL` (default debug).
    pub log_level: Level,
    /// PC/SC readers are looked for (`EIMZA_PKCS11_PCSC` not off).
    pub pcsc: bool,
    /// `EIMZA_PKCS11_CARD_WAIT_MS`: longest wait for another application's transaction.
    pub card_wait: Duration,
    /// The persistent bind cache's folder; `None`: no cache.
    pub cache_dir: Option<PathBuf>,
    /// The effective user id: the bind cache is trusted only when it belongs to it.
    /// `None` where unknown (then there is no cache).
    pub user: Option<u32>,
    /// The module may start threads (the application did not pass
    /// `CKF_LIBRARY_CANT_CREATE_OS_THREADS`); without them PC/SC runs on the calling
    /// thread (pkcs11-spec.md §2.2).
    pub threads: bool,
    /// `EIMZA_VIRTUAL_CARD`: software card files, in slot order.
    #[cfg(feature = "software-card")]
    pub software_cards: Vec<PathBuf>,
    /// `EIMZA_VCARD_DELAYS`: the software cards' timing, as given.
    #[cfg(feature = "software-card")]
    pub card_delays: Option<String>,
}

/// Default of `EIMZA_PKCS11_CARD_WAIT_MS`.
pub const DEFAULT_CARD_WAIT: Duration = Duration::from_secs(30);
const CACHE_DIR_NAME: &str = "eimza-pkcs11";

impl Default for Config {
    /// No log, PC/SC on, 30 s card wait, no cache, threads allowed, no software card.
    fn default() -> Self {
        Config {
            log: None,
            log_level: Level::Debug,
            pcsc: true,
            card_wait: DEFAULT_CARD_WAIT,
            cache_dir: None,
            user: None,
            threads: true,
            #[cfg(feature = "software-card")]
            software_cards: Vec::new(),
            #[cfg(feature = "software-card")]
            card_delays: None,
        }
    }
}

impl Config {
    /// The process environment, whether the application lets the module start threads,
    /// and the effective user id (from the C edge: `ffi::effective_uid`).
    pub fn from_env(threads: bool, user: Option<u32>) -> Config {
        Self::from_vars(|name| std::env::var_os(name), threads, user)
    }

    /// [`from_env`](Self::from_env) over any variable lookup (tests).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<OsString>,
        threads: bool,
        user: Option<u32>,
    ) -> Config {
        let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
        let log = text("EIMZA_PKCS11_LOG").filter(|t| !t.is_empty()).map(|t| {
            if t.eq_ignore_ascii_case("stderr") {
                LogTarget::Stderr
            } else {
                LogTarget::File(PathBuf::from(t))
            }
        });
        let log_level = text("EIMZA_PKCS11_LOG_LEVEL")
            .and_then(|l| Level::parse(&l))
            .unwrap_or(Level::Debug);
        let card_wait = text("EIMZA_PKCS11_CARD_WAIT_MS")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_CARD_WAIT, Duration::from_millis);
        // Windows: no cache, since the cache's trust rule (the user's own folder and
        // files, no one else may write them) is checked on Unix ownership and modes.
        let cache_dir = if !cfg!(unix) || is_off(text("EIMZA_PKCS11_CACHE").as_deref()) {
            None
        } else {
            // The XDG spec: a relative path is invalid and must be ignored.
            let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
            absolute("XDG_CACHE_HOME")
                .or_else(|| absolute("HOME").map(|h| h.join(".cache")))
                .map(|base| base.join(CACHE_DIR_NAME))
        };
        Config {
            log,
            log_level,
            pcsc: !is_off(text("EIMZA_PKCS11_PCSC").as_deref()),
            card_wait,
            cache_dir,
            user,
            threads,
            #[cfg(feature = "software-card")]
            // Like PATH: ':' on Unix, ';' on Windows (whose paths hold ':').
            software_cards: var("EIMZA_VIRTUAL_CARD")
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            #[cfg(feature = "software-card")]
            card_delays: text("EIMZA_VCARD_DELAYS"),
        }
    }
}

/// `0`, `off`, `no`, `false` (any case) turn a switch off; unset or anything else: on.
pub fn is_off(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "no" | "false"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Two card files and an empty entry, separated as on this system.
    const CARD_LIST: &str = if cfg!(windows) {
        "a.card;;b.card"
    } else {
        "a.card::b.card"
    };

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::from_vars(|name| map.get(name).cloned(), true, None)
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        assert_eq!(config(&[]), Config::default());
    }

    #[test]
    fn every_variable_is_read() {
        let c = config(&[
            ("EIMZA_PKCS11_LOG", "/tmp/p11.log"),
            ("EIMZA_PKCS11_LOG_LEVEL", "TRACE"),
            ("EIMZA_PKCS11_PCSC", "off"),
            ("EIMZA_PKCS11_CARD_WAIT_MS", " 1500 "),
            ("XDG_CACHE_HOME", "/x/cache"),
            ("HOME", "/home/u"),
            ("EIMZA_VIRTUAL_CARD", CARD_LIST),
            ("EIMZA_VCARD_DELAYS", "rsa=60ms"),
        ]);
        assert_eq!(c.log, Some(LogTarget::File("/tmp/p11.log".into())));
        assert_eq!(c.log_level, Level::Trace);
        assert!(!c.pcsc);
        assert_eq!(c.card_wait, Duration::from_millis(1500));
        #[cfg(unix)]
        assert_eq!(c.cache_dir, Some(PathBuf::from("/x/cache/eimza-pkcs11")));
        #[cfg(not(unix))]
        assert_eq!(c.cache_dir, None);
        #[cfg(feature = "software-card")]
        {
            assert_eq!(
                c.software_cards,
                [PathBuf::from("a.card"), PathBuf::from("b.card")]
            );
            assert_eq!(c.card_delays.as_deref(), Some("rsa=60ms"));
        }
        assert_eq!(
            config(&[("EIMZA_PKCS11_LOG", "StdErr")]).log,
            Some(LogTarget::Stderr)
        );
    }

    #[test]
    fn bad_values_fall_back_to_the_defaults() {
        let c = config(&[
            ("EIMZA_PKCS11_LOG_LEVEL", "loud"),
            ("EIMZA_PKCS11_CARD_WAIT_MS", "soon"),
            ("EIMZA_PKCS11_PCSC", "yes please"),
        ]);
        assert_eq!(c.log_level, Level::Debug);
        assert_eq!(c.card_wait, DEFAULT_CARD_WAIT);
        assert!(c.pcsc);
        assert_eq!(config(&[("EIMZA_PKCS11_LOG", "")]).log, None);
    }

    #[cfg(windows)]
    #[test]
    fn no_cache_folder_on_windows() {
        let dir = |vars: &[(&str, &str)]| config(vars).cache_dir;
        assert_eq!(dir(&[("XDG_CACHE_HOME", "C:\\x"), ("HOME", "C:\\u")]), None);
    }

    #[cfg(unix)]
    #[test]
    fn cache_folder_follows_xdg_then_home_or_is_off() {
        let dir = |vars: &[(&str, &str)]| config(vars).cache_dir;
        assert_eq!(
            dir(&[("HOME", "/home/u")]),
            Some(PathBuf::from("/home/u/.cache/eimza-pkcs11"))
        );
        // A relative XDG_CACHE_HOME is invalid: fall back to HOME.
        assert_eq!(
            dir(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/home/u")]),
            Some(PathBuf::from("/home/u/.cache/eimza-pkcs11"))
        );
        for off in ["0", "off", "NO", "false"] {
            assert_eq!(
                dir(&[("EIMZA_PKCS11_CACHE", off), ("HOME", "/home/u")]),
                None
            );
        }
        assert_eq!(dir(&[("EIMZA_PKCS11_CACHE", "1")]), None, "no folder known");
    }
}
