//! eimza-bench: measures any PKCS#11 module through its C ABI, or the raw APDU floor
//! of the eimza card profile through PC/SC, and prints a table plus `BENCH` lines
//! (`BENCH <target> <metric> <value> <unit>`) that scripts/bench.sh collects.
//!
//! Module mode:  eimza-bench --module LIB [--token-label L] [--pin P] [--name N]
//!               [--iterations N] [--threads 1,2,4,8] [--per-thread N] [--quick]
//!               [--apdu-log FILE] [--no-sign] [--overhead-vcard CARDFILE]
//!               [--overhead-pcsc READER_SUBSTRING]
//!   --apdu-log FILE   (eimza module only) turn on its debug log into FILE and report
//!                     the APDUs, bytes and PC/SC transactions of each phase, read from
//!                     the `apdus=N bytes=M tx=K` ending of each call's log line.
//!                     Logging costs time: use it in a run that is not timed.
//!   --no-sign         stop after the token bind and the memory figures.
//!   (after signing)   C_Digest SHA-256 throughput on 1 MiB, and C_Verify time per
//!                     signature with each key's public key (every signing mechanism
//!                     measured), when the module lists CKM_SHA256 / CKF_VERIFY.
//!   --overhead-vcard  the module's C_Sign (CKM_RSA_PKCS, first RSA key) and the same
//!                     two APDUs sent straight to this software card file in process,
//!                     alternately: the difference is the module's own cost.
//!   --overhead-pcsc R the same through PC/SC: the module's C_Sign against the same
//!                     APDUs on a second connection to reader R, alternately.
//!   --parallel-cards L1,L2,...  instead of the single-token figures: one thread per
//!                     card (token label), each signing --per-thread times with its
//!                     card's first key and mechanism; --iterations rounds, each the
//!                     first card L1 alone, then all cards at once. Reports both
//!                     throughputs and N cards / (N × 1 card) (median, lowest and
//!                     highest round), the figure a module that drives cards in
//!                     parallel keeps near 1. Use identical cards.
//! Raw mode:     eimza-bench --raw-pcsc READER_SUBSTRING [--pin P] [--iterations N]
//!               sends VERIFY once, then per "signature" one PC/SC transaction with
//!               MSE SET DST + PSO COMPUTE DIGITAL SIGNATURE — exactly the APDUs the
//!               module sends for CKM_SHA256_RSA_PKCS on key 1 — with no module at all.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    module: Option<PathBuf>,
    raw_reader: Option<String>,
    token_label: Option<String>,
    pin: String,
    name: String,
    iterations: usize,
    threads: Vec<usize>,
    per_thread: usize,
    apdu_log: Option<PathBuf>,
    no_sign: bool,
    overhead_vcard: Option<PathBuf>,
    overhead_pcsc: Option<String>,
    parallel_cards: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: eimza-bench --module LIB [--token-label L] [--pin P] [--name N] [--iterations N]\n\
         \x20                  [--threads 1,2,4,8] [--per-thread N] [--quick]\n\
         \x20                  [--apdu-log FILE] [--no-sign] [--overhead-vcard CARDFILE]\n\
         \x20                  [--overhead-pcsc READER_SUBSTRING]\n\
         \x20      eimza-bench --module LIB --parallel-cards L1,L2,... [--iterations ROUNDS]\n\
         \x20                  [--per-thread N] [--name N]\n\
         \x20      eimza-bench --raw-pcsc READER_SUBSTRING [--pin P] [--name N] [--iterations N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        module: None,
        raw_reader: None,
        token_label: None,
        pin: "123456".into(),
        name: String::new(),
        iterations: 50,
        threads: vec![1, 2, 4, 8],
        per_thread: 100,
        apdu_log: None,
        no_sign: false,
        overhead_vcard: None,
        overhead_pcsc: None,
        parallel_cards: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--module" => args.module = Some(value().into()),
            "--raw-pcsc" => args.raw_reader = Some(value()),
            "--token-label" => args.token_label = Some(value()),
            "--pin" => args.pin = value(),
            "--name" => args.name = value(),
            "--iterations" => args.iterations = value().parse().unwrap_or_else(|_| usage()),
            "--per-thread" => args.per_thread = value().parse().unwrap_or_else(|_| usage()),
            "--apdu-log" => args.apdu_log = Some(value().into()),
            "--overhead-vcard" => args.overhead_vcard = Some(value().into()),
            "--overhead-pcsc" => args.overhead_pcsc = Some(value()),
            "--no-sign" => args.no_sign = true,
            "--parallel-cards" => {
                args.parallel_cards = value().split(',').map(String::from).collect()
            }
            "--threads" => {
                args.threads = value()
                    .split(',')
                    .map(|t| t.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--quick" => {
                args.iterations = 5;
                args.per_thread = 5;
                args.threads = vec![1, 8];
            }
            _ => usage(),
        }
    }
    if args.module.is_none() == args.raw_reader.is_none() {
        usage()
    }
    if args.name.is_empty() {
        args.name = args
            .module
            .as_ref()
            .and_then(|m| m.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "raw-pcsc".into());
    }
    args
}

/// Prints one measurement as a table row and as a machine-readable line.
struct Report {
    name: String,
}

impl Report {
    fn row(&self, metric: &str, value: f64, unit: &str) {
        println!("  {metric:<44} {value:>12.3} {unit}");
        println!("BENCH {} {metric} {value:.3} {unit}", self.name);
    }
}

/// Card I/O of the eimza module per phase, from its debug log (`--apdu-log`): each
/// call's line ends with `apdus=N bytes=M tx=K`.
struct ApduLog {
    path: PathBuf,
    offset: usize,
}

/// Turns a phase's totals into report rows (metric, value, unit).
type PhaseRows<'a> = dyn Fn(&PhaseIo) -> Vec<(String, f64, &'static str)> + 'a;

/// Totals of one phase, per PKCS#11 function: (calls, apdus, bytes, transactions,
/// most APDUs in one call).
#[derive(Default)]
struct PhaseIo {
    by_function: std::collections::BTreeMap<String, [u64; 5]>,
}

impl PhaseIo {
    fn total(&self, index: usize) -> u64 {
        self.by_function.values().map(|v| v[index]).sum()
    }
    fn of(&self, function: &str, index: usize) -> u64 {
        self.by_function.get(function).map_or(0, |v| v[index])
    }
}

impl ApduLog {
    /// The calls logged since the last `take`.
    fn take(&mut self) -> PhaseIo {
        let text = std::fs::read(&self.path).unwrap_or_default();
        let new = text.get(self.offset..).unwrap_or_default();
        self.offset = text.len().max(self.offset);
        let mut phase = PhaseIo::default();
        for line in String::from_utf8_lossy(new).lines() {
            let Some(call) = line.find(": C_").map(|i| &line[i + 2..]) else {
                continue;
            };
            let Some(name) = call.split('(').next() else {
                continue;
            };
            let field = |key: &str| {
                line.rsplit(' ')
                    .find_map(|w| w.strip_prefix(key))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let (Some(apdus), Some(bytes), Some(tx)) =
                (field("apdus="), field("bytes="), field("tx="))
            else {
                continue;
            };
            let entry = phase.by_function.entry(name.to_string()).or_default();
            entry[0] += 1;
            entry[1] += apdus;
            entry[2] += bytes;
            entry[3] += tx;
            entry[4] = entry[4].max(apdus);
        }
        phase
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx.min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Resident set size and its peak, in KiB, from /proc/self/status.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn main() {
    let args = parse_args();
    let report = Report {
        name: args.name.clone(),
    };
    println!("== {}", args.name);
    let result = match (&args.module, &args.raw_reader) {
        (Some(module), _) if !args.parallel_cards.is_empty() => {
            bench_parallel_cards(&args, module, &report)
        }
        (Some(module), _) => bench_module(&args, module, &report),
        (_, Some(reader)) => bench_raw(&args, reader, &report),
        _ => unreachable!("checked in parse_args"),
    };
    if let Err(e) = result {
        eprintln!("eimza-bench: {}: {e}", args.name);
        std::process::exit(1);
    }
}

type BenchResult = Result<(), Box<dyn std::error::Error>>;

/// A signing key on the token and the mechanisms to measure with it.
struct KeyUnderTest {
    label: String,
    handle: ObjectHandle,
    mechanisms: Vec<(Mech, Vec<u8>)>,
}

/// The measured mechanisms (cryptoki's `Mechanism` is not `Send`, so threads rebuild it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mech {
    Sha256RsaPkcs,
    Sha256RsaPkcsPss,
    RsaPkcs,
    EcdsaSha256,
    Ecdsa,
}

impl Mech {
    fn mechanism(self) -> Mechanism<'static> {
        match self {
            Mech::Sha256RsaPkcs => Mechanism::Sha256RsaPkcs,
            Mech::Sha256RsaPkcsPss => Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: 32.into(),
            }),
            Mech::RsaPkcs => Mechanism::RsaPkcs,
            Mech::EcdsaSha256 => Mechanism::EcdsaSha256,
            Mech::Ecdsa => Mechanism::Ecdsa,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mech::Sha256RsaPkcs => "CKM_SHA256_RSA_PKCS",
            Mech::Sha256RsaPkcsPss => "CKM_SHA256_RSA_PKCS_PSS",
            Mech::RsaPkcs => "CKM_RSA_PKCS",
            Mech::EcdsaSha256 => "CKM_ECDSA_SHA256",
            Mech::Ecdsa => "CKM_ECDSA",
        }
    }
}

const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn mechanisms_for(key_type: KeyType, supported: &[MechanismType]) -> Vec<(Mech, Vec<u8>)> {
    let message = b"eimza-bench: the document to sign".repeat(30);
    let hash = [0x5au8; 32];
    let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
    digest_info.extend_from_slice(&hash);
    let candidates = if key_type == KeyType::RSA {
        vec![
            (Mech::Sha256RsaPkcs, message.clone()),
            (Mech::Sha256RsaPkcsPss, message),
            (Mech::RsaPkcs, digest_info),
        ]
    } else {
        vec![(Mech::EcdsaSha256, message), (Mech::Ecdsa, hash.to_vec())]
    };
    candidates
        .into_iter()
        .filter(|(m, _)| supported.contains(&m.mechanism().mechanism_type()))
        .collect()
}

fn find_slot(ctx: &Pkcs11, label: Option<&str>) -> Result<Slot, Box<dyn std::error::Error>> {
    for slot in ctx.get_slots_with_token()? {
        let info = match ctx.get_token_info(slot) {
            Ok(info) => info,
            Err(_) => continue,
        };
        if label.is_none_or(|l| info.label().trim_end() == l) {
            return Ok(slot);
        }
    }
    Err("no token found (check --token-label)".into())
}

/// Token bind as an application does it: every object and the attributes NSS reads.
fn read_all_objects(session: &Session) -> Result<usize, cryptoki::error::Error> {
    let objects = session.find_objects(&[])?;
    for &object in &objects {
        let class = session.get_attributes(object, &[AttributeType::Class])?;
        let mut wanted = vec![AttributeType::Label, AttributeType::Id];
        match class.first() {
            Some(Attribute::Class(ObjectClass::CERTIFICATE)) => wanted.extend([
                AttributeType::Value,
                AttributeType::Subject,
                AttributeType::Issuer,
                AttributeType::SerialNumber,
            ]),
            Some(Attribute::Class(ObjectClass::PUBLIC_KEY)) => wanted.extend([
                AttributeType::KeyType,
                AttributeType::Modulus,
                AttributeType::EcPoint,
            ]),
            _ => wanted.push(AttributeType::KeyType),
        }
        session.get_attributes(object, &wanted)?;
    }
    Ok(objects.len())
}

fn bench_module(args: &Args, module: &PathBuf, report: &Report) -> BenchResult {
    let mut apdu_log = args.apdu_log.as_ref().map(|path| {
        let _ = std::fs::remove_file(path);
        // Read by the module at C_Initialize; set before any thread exists.
        std::env::set_var("EIMZA_PKCS11_LOG", path);
        std::env::set_var("EIMZA_PKCS11_LOG_LEVEL", "debug");
        ApduLog {
            path: path.clone(),
            offset: 0,
        }
    });
    let mut io_row = |phase: &str, io: &PhaseRows<'_>| {
        if let Some(log) = apdu_log.as_mut() {
            let taken = log.take();
            for (metric, value, unit) in io(&taken) {
                report.row(&format!("{phase}: {metric}"), value, unit);
            }
        }
    };
    let totals = |p: &PhaseIo| {
        vec![
            ("APDUs".to_string(), p.total(1) as f64, "apdus"),
            ("bytes".to_string(), p.total(2) as f64, "bytes"),
            ("transactions".to_string(), p.total(3) as f64, "tx"),
        ]
    };
    let (rss_start, _) = memory_kib();
    let (ctx, load) = time(|| -> Result<Pkcs11, cryptoki::error::Error> {
        let ctx = Pkcs11::new(module)?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
        Ok(ctx)
    });
    let ctx = ctx?;
    report.row("load + C_Initialize", ms(load), "ms");
    io_row("load + C_Initialize", &totals);

    let mut samples: Vec<Duration> = (0..200)
        .map(|_| time(|| ctx.get_slots_with_token()).1)
        .collect();
    report.row(
        "C_GetSlotList median",
        us(percentile(&mut samples, 0.5)),
        "us",
    );
    io_row("C_GetSlotList x200", &totals);

    let (rss_before_bind, _) = memory_kib();
    let (bound, bind) = time(|| -> Result<(Slot, usize), Box<dyn std::error::Error>> {
        let slot = find_slot(&ctx, args.token_label.as_deref())?;
        let session = ctx.open_ro_session(slot)?;
        let n = read_all_objects(&session)?;
        Ok((slot, n))
    });
    let (slot, objects) = bound?;
    let (rss_after_bind, _) = memory_kib();
    report.row("token bind (token info + read all objects)", ms(bind), "ms");
    io_row("token bind", &totals);
    report.row("objects before login", objects as f64, "objects");
    report.row(
        "RSS growth: load + bind",
        (rss_after_bind.saturating_sub(rss_start)) as f64 / 1024.0,
        "MiB",
    );
    report.row(
        "RSS growth: bind only",
        (rss_after_bind.saturating_sub(rss_before_bind)) as f64 / 1024.0,
        "MiB",
    );

    if args.no_sign {
        let (_, peak) = memory_kib();
        report.row("peak RSS (VmHWM)", peak as f64 / 1024.0, "MiB");
        ctx.finalize()?;
        return Ok(());
    }
    let session = ctx.open_rw_session(slot)?;
    io_row("C_OpenSession", &totals);
    for (metric, f) in [
        ("C_GetSlotInfo median (idle)", 0),
        ("C_GetTokenInfo median (idle)", 1),
        ("C_GetSessionInfo median (idle)", 2),
    ] {
        let mut samples: Vec<Duration> = (0..500)
            .map(|_| time(|| polled_call(&ctx, slot, &session, f)).1)
            .collect();
        report.row(metric, us(percentile(&mut samples, 0.5)), "us");
        io_row(
            &format!("{} x500", &metric[..metric.find(' ').unwrap_or(0)]),
            &totals,
        );
    }

    let pin = AuthPin::new(args.pin.clone().into());
    let (login, login_time) = time(|| session.login(UserType::User, Some(&pin)));
    login?;
    report.row("C_Login", ms(login_time), "ms");
    io_row("C_Login", &totals);

    let supported = ctx.get_mechanism_list(slot)?;
    let keys = signing_keys(&session, &supported)?;
    io_row("mechanism list + key search", &totals);
    if keys.is_empty() {
        return Err("no private key with a measurable mechanism".into());
    }
    for key in &keys {
        for (mech, data) in &key.mechanisms {
            let (mech_name, mechanism) = (mech.name(), mech.mechanism());
            let mut samples = Vec::with_capacity(args.iterations);
            for _ in 0..args.iterations {
                let (sig, elapsed) = time(|| session.sign(&mechanism, key.handle, data));
                sig?;
                samples.push(elapsed);
            }
            let median = percentile(&mut samples, 0.5);
            let p99 = percentile(&mut samples, 0.99);
            report.row(
                &format!("C_Sign {} {mech_name} median", key.label),
                ms(median),
                "ms",
            );
            report.row(
                &format!("C_Sign {} {mech_name} p99", key.label),
                ms(p99),
                "ms",
            );
            let signatures = args.iterations.max(1) as f64;
            io_row(
                &format!("C_Sign {} {mech_name}", key.label),
                &|p: &PhaseIo| {
                    vec![
                        (
                            "APDUs per signature".into(),
                            p.total(1) as f64 / signatures,
                            "apdus",
                        ),
                        (
                            "most APDUs in one C_Sign".into(),
                            p.of("C_Sign", 4) as f64,
                            "apdus",
                        ),
                        (
                            "transactions per signature".into(),
                            p.total(3) as f64 / signatures,
                            "tx",
                        ),
                    ]
                },
            );
        }
    }

    let to_verify = signatures_to_verify(&ctx, slot, &session, &keys)?;
    io_row("C_Sign for the C_Verify runs", &totals);
    digest_and_verify(args, &session, &to_verify, &supported, report)?;
    io_row("C_Digest + C_Verify", &totals);

    let first = &keys[0];
    let (mech, data) = &first.mechanisms[0];
    let mech_name = mech.name();
    polled_under_load(&ctx, slot, first.handle, *mech, data, report)?;
    io_row("polled calls during C_Sign", &|p: &PhaseIo| {
        ["C_GetSlotInfo", "C_GetTokenInfo", "C_GetSessionInfo"]
            .iter()
            .map(|f| (format!("{f} APDUs"), p.of(f, 1) as f64, "apdus"))
            .collect()
    });

    let mut single_rate = None;
    for &threads in &args.threads {
        let (errors, rate) = threaded_signing(
            &ctx,
            slot,
            first.handle,
            *mech,
            data,
            threads,
            args.per_thread,
        );
        report.row(
            &format!(
                "{threads} threads x {} {mech_name}: errors",
                args.per_thread
            ),
            errors as f64,
            "errors",
        );
        report.row(
            &format!(
                "{threads} threads x {} {mech_name}: throughput",
                args.per_thread
            ),
            rate,
            "sig/s",
        );
        let total = (threads * args.per_thread).max(1) as f64;
        io_row(&format!("{threads} threads"), &|p: &PhaseIo| {
            vec![(
                "APDUs per signature".into(),
                p.total(1) as f64 / total,
                "apdus",
            )]
        });
        match single_rate {
            None => single_rate = Some(rate),
            Some(one) if one > 0.0 => report.row(
                &format!("{threads} threads throughput / 1 thread"),
                rate / one,
                "x",
            ),
            Some(_) => {}
        }
    }

    if let Some(card_file) = &args.overhead_vcard {
        sign_overhead(
            args,
            &session,
            &keys,
            &RawSide::Vcard(card_file.clone()),
            report,
        )?;
    }
    if let Some(reader) = &args.overhead_pcsc {
        sign_overhead(
            args,
            &session,
            &keys,
            &RawSide::Pcsc(reader.clone()),
            report,
        )?;
    }

    let (_, peak) = memory_kib();
    report.row("peak RSS (VmHWM)", peak as f64 / 1024.0, "MiB");
    drop(session);
    ctx.finalize()?;
    Ok(())
}

/// One signature to verify: (key label, mechanism, public-key object, data, signature).
type ToVerify = (String, Mech, ObjectHandle, Vec<u8>, Vec<u8>);

/// A signature by every key and mechanism whose info has CKF_VERIFY, with the public
/// key of the same CKA_ID.
fn signatures_to_verify(
    ctx: &Pkcs11,
    slot: Slot,
    session: &Session,
    keys: &[KeyUnderTest],
) -> Result<Vec<ToVerify>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for key in keys {
        let id = session.get_attributes(key.handle, &[AttributeType::Id])?;
        let Some(Attribute::Id(id)) = id.into_iter().next() else {
            continue;
        };
        let public = session
            .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id)])?;
        let Some(&public) = public.first() else {
            continue;
        };
        for (mech, data) in &key.mechanisms {
            let mechanism = mech.mechanism();
            if !ctx
                .get_mechanism_info(slot, mechanism.mechanism_type())?
                .verify()
            {
                continue;
            }
            let signature = session.sign(&mechanism, key.handle, data)?;
            out.push((key.label.clone(), *mech, public, data.clone(), signature));
        }
    }
    Ok(out)
}

/// What a module computes without the card: C_Digest throughput (SHA-256 over 1 MiB:
/// C_DigestInit, C_Digest for the length, C_Digest, as cryptoki calls it) and C_Verify
/// time per signature (C_VerifyInit + C_Verify) with the key's public-key object.
fn digest_and_verify(
    args: &Args,
    session: &Session,
    to_verify: &[ToVerify],
    supported: &[MechanismType],
    report: &Report,
) -> BenchResult {
    if supported.contains(&MechanismType::SHA256) {
        let data: Vec<u8> = (0..1usize << 20).map(|i| (i * 13) as u8).collect();
        let mut samples = Vec::new();
        for _ in 0..args.iterations.max(10) {
            let (digest, elapsed) = time(|| session.digest(&Mechanism::Sha256, &data));
            if digest?.len() != 32 {
                return Err("C_Digest SHA-256: not 32 bytes".into());
            }
            samples.push(elapsed);
        }
        let median = percentile(&mut samples, 0.5);
        report.row("C_Digest CKM_SHA256 1 MiB median", ms(median), "ms");
        report.row(
            "C_Digest CKM_SHA256 1 MiB throughput",
            data.len() as f64 / 1e6 / median.as_secs_f64(),
            "MB/s",
        );
    }
    for (label, mech, public, data, signature) in to_verify {
        let mechanism = mech.mechanism();
        let mut samples = Vec::new();
        for _ in 0..(args.iterations * 4).max(20) {
            let (ok, elapsed) = time(|| session.verify(&mechanism, *public, data, signature));
            ok?;
            samples.push(elapsed);
        }
        report.row(
            &format!("C_Verify {label} {} median", mech.name()),
            us(percentile(&mut samples, 0.5)),
            "us",
        );
    }
    Ok(())
}

/// The raw side of a paired measurement: the module's two signing APDUs sent without
/// the module, to a software card in process or through PC/SC.
enum RawSide {
    Vcard(PathBuf),
    Pcsc(String),
}

/// The module's cost per signature: C_Sign (CKM_RSA_PKCS with a SHA-256 DigestInfo,
/// as cryptoki sends it: C_SignInit, C_Sign for the length, C_Sign) against the same
/// MSE + PSO sent without the module, alternately, so both see the same machine load
/// (which goes first alternates too). In process the raw side is a copy of the
/// module's card file (same keys), logged in with the same PIN; through PC/SC it is a
/// second connection to the card the module uses, one transaction per signature.
fn sign_overhead(
    args: &Args,
    session: &Session,
    keys: &[KeyUnderTest],
    side: &RawSide,
    report: &Report,
) -> BenchResult {
    // The first RSA key (CKM_RSA_PKCS over a DigestInfo) and the first EC key
    // (CKM_ECDSA over a hash). Key reference = position in the PrKDF, as on cards made
    // by `eimza-vcard create`; a wrong guess makes the card refuse the MSE, loudly.
    let hash = [0x5au8; 32];
    let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
    digest_info.extend_from_slice(&hash);
    let mut cases = Vec::new();
    for (mech, alg, input) in [
        (Mech::RsaPkcs, 0x02, digest_info),
        (Mech::Ecdsa, 0x30, hash.to_vec()),
    ] {
        let found = keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.mechanisms.iter().any(|(m, _)| *m == mech));
        if let Some((index, key)) = found {
            let key_ref = u8::try_from(index + 1)?;
            cases.push((
                mech,
                key,
                input.clone(),
                raw_sign_apdus(alg, key_ref, &input),
            ));
        }
    }
    if cases.is_empty() {
        return Err("the paired overhead needs a key with CKM_RSA_PKCS or CKM_ECDSA".into());
    }
    let mut verify = vec![0x00, 0x20, 0x00, 0x81, args.pin.len() as u8];
    verify.extend_from_slice(args.pin.as_bytes());
    let check = |apdu: &[u8], resp: &[u8]| -> BenchResult {
        match resp.len().checked_sub(2).map(|n| (resp[n], resp[n + 1])) {
            Some((0x90, 0x00)) => Ok(()),
            _ => Err(format!("card answered {resp:02X?} to {:02X?}", &apdu[..4]).into()),
        }
    };
    let prefix = match side {
        RawSide::Vcard(_) => "in-process",
        RawSide::Pcsc(_) => "PC/SC",
    };
    match side {
        RawSide::Vcard(card_file) => {
            let card = virtual_card::VirtualCard::open(card_file)?;
            card.set_delays(virtual_card::Delays::from_env()?);
            card.power_on();
            let send = |apdu: &[u8]| check(apdu, &card.transmit(apdu));
            send(&SELECT_PKCS15)?;
            send(&verify)?;
            for (mech, key, input, (mse, pso)) in &cases {
                paired(args, session, (key, *mech, input), prefix, report, || {
                    card.note_transaction();
                    send(mse)?;
                    send(pso)
                })?;
            }
            Ok(())
        }
        RawSide::Pcsc(reader_substring) => {
            let (_ctx, mut card) = pcsc_connect(reader_substring)?;
            let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
            let mut send = |card: &pcsc::Card, apdu: &[u8]| -> BenchResult {
                let resp = card.transmit(apdu, &mut buf)?;
                check(apdu, resp)
            };
            send(&card, &SELECT_PKCS15)?;
            send(&card, &verify)?;
            for (mech, key, input, (mse, pso)) in &cases {
                paired(args, session, (key, *mech, input), prefix, report, || {
                    let tx = card.transaction()?;
                    send(&tx, mse)?;
                    send(&tx, pso)?;
                    tx.end(pcsc::Disposition::LeaveCard).map_err(|(_, e)| e)?;
                    Ok(())
                })?;
            }
            Ok(())
        }
    }
}

fn paired(
    args: &Args,
    session: &Session,
    (key, mech, input): (&KeyUnderTest, Mech, &[u8]),
    prefix: &str,
    report: &Report,
    mut raw_exchange: impl FnMut() -> BenchResult,
) -> BenchResult {
    let mechanism = mech.mechanism();
    let rounds = (args.iterations * 4).max(20);
    let (mut module, mut raw, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let module_sign = || -> Result<Duration, Box<dyn std::error::Error>> {
            let (sig, m) = time(|| session.sign(&mechanism, key.handle, input));
            sig?;
            Ok(m)
        };
        let (m, r) = if round % 2 == 0 {
            let m = module_sign()?;
            let (answer, r) = time(&mut raw_exchange);
            answer?;
            (m, r)
        } else {
            let (answer, r) = time(&mut raw_exchange);
            answer?;
            (module_sign()?, r)
        };
        module.push(m);
        raw.push(r);
        diff.push(us(m) - us(r));
    }
    diff.sort_by(f64::total_cmp);
    let module_median = percentile(&mut module, 0.5);
    let raw_median = percentile(&mut raw, 0.5);
    report.row(
        &format!("{prefix} {}: C_Sign (paired) median", mech.name()),
        ms(module_median),
        "ms",
    );
    report.row(
        &format!("{prefix} {}: raw MSE+PSO (paired) median", mech.name()),
        ms(raw_median),
        "ms",
    );
    report.row(
        &format!(
            "{prefix} {}: module overhead per C_Sign (median of paired differences)",
            mech.name()
        ),
        diff[diff.len() / 2],
        "us",
    );
    report.row(
        &format!(
            "{prefix} {}: C_Sign / raw exchange (paired medians)",
            mech.name()
        ),
        module_median.as_secs_f64() / raw_median.as_secs_f64().max(1e-9),
        "x",
    );
    Ok(())
}

/// A shared connection to the first reader whose name contains `reader_substring`.
fn pcsc_connect(
    reader_substring: &str,
) -> Result<(pcsc::Context, pcsc::Card), Box<dyn std::error::Error>> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    let mut names = vec![0u8; 4096];
    let reader = ctx
        .list_readers(&mut names)?
        .find(|r| r.to_string_lossy().contains(reader_substring))
        .map(|r| r.to_owned())
        .ok_or("no such reader")?;
    let card = ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    Ok((ctx, card))
}

/// SELECT of the PKCS#15 application by AID.
const SELECT_PKCS15: [u8; 17] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0C, 0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31,
    0x35,
];

/// MSE SET DST (algorithm `alg`, key reference `key_ref`) and PSO CDS over `input`
/// with extended Le 0xFF00: what the module sends (e.g. alg 02 + a DigestInfo for
/// CKM_RSA_PKCS, alg 30 + a hash for CKM_ECDSA).
fn raw_sign_apdus(alg: u8, key_ref: u8, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mse = vec![
        0x00, 0x22, 0x41, 0xB6, 0x06, 0x80, 0x01, alg, 0x84, 0x01, key_ref,
    ];
    let mut pso = vec![0x00, 0x2A, 0x9E, 0x9A, 0x00];
    pso.extend_from_slice(&(input.len() as u16).to_be_bytes());
    pso.extend_from_slice(input);
    pso.extend_from_slice(&[0xFF, 0x00]);
    (mse, pso)
}

fn polled_call(ctx: &Pkcs11, slot: Slot, session: &Session, which: u8) -> bool {
    match which {
        0 => ctx.get_slot_info(slot).is_ok(),
        1 => ctx.get_token_info(slot).is_ok(),
        _ => session.get_session_info().is_ok(),
    }
}

fn signing_keys(
    session: &Session,
    supported: &[MechanismType],
) -> Result<Vec<KeyUnderTest>, cryptoki::error::Error> {
    let mut keys = Vec::new();
    for handle in session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])? {
        let attrs =
            session.get_attributes(handle, &[AttributeType::Label, AttributeType::KeyType])?;
        let mut label = String::new();
        let mut key_type = None;
        for a in attrs {
            match a {
                Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                Attribute::KeyType(t) => key_type = Some(t),
                _ => {}
            }
        }
        let Some(key_type) = key_type else { continue };
        let mechanisms = mechanisms_for(key_type, supported);
        if !mechanisms.is_empty() {
            keys.push(KeyUnderTest {
                label,
                handle,
                mechanisms,
            });
        }
    }
    Ok(keys)
}

/// Polled calls from this thread while another thread signs continuously: a module that
/// holds a lock across card I/O shows the card's signing time here.
fn polled_under_load(
    ctx: &Pkcs11,
    slot: Slot,
    key: ObjectHandle,
    mech: Mech,
    data: &[u8],
    report: &Report,
) -> BenchResult {
    let stop = Arc::new(AtomicBool::new(false));
    let signatures = Arc::new(AtomicUsize::new(0));
    let signer = {
        let (ctx, stop, signatures, data) =
            (ctx.clone(), stop.clone(), signatures.clone(), data.to_vec());
        std::thread::spawn(move || -> Result<(), cryptoki::error::Error> {
            let mechanism = mech.mechanism();
            let session = ctx.open_ro_session(slot)?;
            while !stop.load(Ordering::Relaxed) {
                session.sign(&mechanism, key, &data)?;
                signatures.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    };
    let session = ctx.open_ro_session(slot)?;
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut samples: [Vec<Duration>; 3] = Default::default();
    while Instant::now() < deadline && !signer.is_finished() {
        for (which, bucket) in samples.iter_mut().enumerate() {
            bucket.push(time(|| polled_call(ctx, slot, &session, which as u8)).1);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    signer.join().map_err(|_| "signer thread panicked")??;
    for (name, bucket) in ["C_GetSlotInfo", "C_GetTokenInfo", "C_GetSessionInfo"]
        .iter()
        .zip(samples.iter_mut())
    {
        report.row(
            &format!("{name} during C_Sign p99"),
            ms(percentile(bucket, 0.99)),
            "ms",
        );
        report.row(
            &format!("{name} during C_Sign max"),
            ms(percentile(bucket, 1.0)),
            "ms",
        );
    }
    report.row(
        "signatures made meanwhile",
        signatures.load(Ordering::Relaxed) as f64,
        "sigs",
    );
    Ok(())
}

/// `threads` threads, each with its own session, each making `per_thread` signatures.
/// Returns (errors, signatures per second).
fn threaded_signing(
    ctx: &Pkcs11,
    slot: Slot,
    key: ObjectHandle,
    mech: Mech,
    data: &[u8],
    threads: usize,
    per_thread: usize,
) -> (usize, f64) {
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (ctx, errors, data) = (ctx.clone(), errors.clone(), data.to_vec());
            std::thread::spawn(move || {
                let mechanism = mech.mechanism();
                let session = match ctx.open_ro_session(slot) {
                    Ok(s) => s,
                    Err(_) => {
                        errors.fetch_add(per_thread, Ordering::Relaxed);
                        return;
                    }
                };
                for _ in 0..per_thread {
                    if session.sign(&mechanism, key, &data).is_err() {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        if w.join().is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total = threads * per_thread;
    (
        errors.load(Ordering::Relaxed),
        total as f64 / elapsed.max(1e-9),
    )
}

/// Several cards at once (`--parallel-cards`): one thread per card, each signing with
/// its own card. Rounds alternate the first card alone and all cards together, so both
/// see the same machine load; the figure is the median over the rounds of
/// all / (N × alone).
fn bench_parallel_cards(args: &Args, module: &PathBuf, report: &Report) -> BenchResult {
    let ctx = Pkcs11::new(module)?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let pin = AuthPin::new(args.pin.clone().into());
    // (slot, key, mechanism, data); the login sessions stay open for the whole run
    // (login state is per token).
    let mut cards = Vec::new();
    let mut logins = Vec::new();
    for label in &args.parallel_cards {
        let slot = find_slot(&ctx, Some(label))?;
        let session = ctx.open_ro_session(slot)?;
        session.login(UserType::User, Some(&pin))?;
        let supported = ctx.get_mechanism_list(slot)?;
        let keys = signing_keys(&session, &supported)?;
        let key = keys
            .first()
            .ok_or_else(|| format!("{label}: no signing key"))?;
        let (mech, data) = key.mechanisms[0].clone();
        // One signature first: the card is bound and its key's path warm.
        session.sign(&mech.mechanism(), key.handle, &data)?;
        cards.push((slot, key.handle, mech, data));
        logins.push(session);
    }
    let n = cards.len();
    let mech_name = cards[0].2.name();
    let per_card = args.per_thread;
    let rounds = args.iterations.max(1);
    let (mut alone_rates, mut together_rates, mut ratios) = (vec![], vec![], vec![]);
    let mut errors = 0;
    for _ in 0..rounds {
        let (slot, key, mech, data) = &cards[0];
        let (e, one) = threaded_signing(&ctx, *slot, *key, *mech, data, 1, per_card);
        let (e_all, all) = all_cards_signing(&ctx, &cards, per_card);
        errors += e + e_all;
        alone_rates.push(one);
        together_rates.push(all);
        if one > 0.0 {
            ratios.push(all / (n as f64 * one));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    report.row(
        &format!("{rounds} rounds x {per_card} {mech_name} per card: errors"),
        errors as f64,
        "errors",
    );
    report.row(
        "1 card: throughput (median of rounds)",
        median(&mut alone_rates),
        "sig/s",
    );
    report.row(
        &format!("{n} cards: throughput (median of rounds)"),
        median(&mut together_rates),
        "sig/s",
    );
    let (low, high) = (
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
    report.row(
        &format!("{n} cards throughput / ({n} x 1 card)"),
        median(&mut ratios),
        "x",
    );
    report.row(
        &format!("{n} cards throughput / ({n} x 1 card), lowest round"),
        low,
        "x",
    );
    report.row(
        &format!("{n} cards throughput / ({n} x 1 card), highest round"),
        high,
        "x",
    );
    drop(logins);
    ctx.finalize()?;
    Ok(())
}

/// Every card signing `per_card` times from its own thread; (errors, signatures/s).
fn all_cards_signing(
    ctx: &Pkcs11,
    cards: &[(Slot, ObjectHandle, Mech, Vec<u8>)],
    per_card: usize,
) -> (usize, f64) {
    let errors = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for (slot, key, mech, data) in cards {
            let errors = &errors;
            s.spawn(move || {
                let mechanism = mech.mechanism();
                let Ok(session) = ctx.open_ro_session(*slot) else {
                    errors.fetch_add(per_card, Ordering::Relaxed);
                    return;
                };
                for _ in 0..per_card {
                    if session.sign(&mechanism, *key, data).is_err() {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let total = (cards.len() * per_card) as f64;
    (
        errors.load(Ordering::Relaxed),
        total / start.elapsed().as_secs_f64().max(1e-9),
    )
}

/// The transport floor: the module's signing APDUs sent straight through PC/SC.
fn bench_raw(args: &Args, reader_substring: &str, report: &Report) -> BenchResult {
    let (_ctx, mut card) = pcsc_connect(reader_substring)?;
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let mut send =
        |card: &pcsc::Card, apdu: &[u8]| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
            let resp = card.transmit(apdu, &mut buf)?.to_vec();
            match resp.len().checked_sub(2).map(|n| (resp[n], resp[n + 1])) {
                Some((0x90, 0x00)) => Ok(resp),
                _ => Err(format!("card answered {resp:02X?} to {:02X?}", &apdu[..4]).into()),
            }
        };
    send(&card, &SELECT_PKCS15)?;
    let mut verify = vec![0x00, 0x20, 0x00, 0x81, args.pin.len() as u8];
    verify.extend_from_slice(args.pin.as_bytes());
    send(&card, &verify)?;
    let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
    digest_info.extend_from_slice(&[0x5a; 32]);
    let (mse, pso) = raw_sign_apdus(0x02, 1, &digest_info);
    let mut samples = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let start = Instant::now();
        let tx = card.transaction()?;
        send(&tx, &mse)?;
        send(&tx, &pso)?;
        tx.end(pcsc::Disposition::LeaveCard).map_err(|(_, e)| e)?;
        samples.push(start.elapsed());
    }
    report.row(
        "raw MSE+PSO (RSA PKCS#1, key 1) median",
        ms(percentile(&mut samples, 0.5)),
        "ms",
    );
    report.row(
        "raw MSE+PSO (RSA PKCS#1, key 1) p99",
        ms(percentile(&mut samples, 0.99)),
        "ms",
    );
    Ok(())
}
