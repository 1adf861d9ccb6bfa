//! 16 threads mixing C_WaitForSlotEvent, C_GetSlotList/C_GetTokenInfo, C_Sign,
//! C_Logout and C_Finalize/C_Initialize for a bounded time while one more pulls the
//! software card out of its reader and puts it back. No deadlock (a watchdog fails the
//! test if the threads do not all stop in time), no crash, never CKR_GENERAL_ERROR
//! (what a caught panic becomes), every signature returned verifies against the card's
//! public key, signatures keep succeeding, and the waiters see the card's slot events.
//! In process (the module's rlib) so the test can reach the module's software card.
//! Its own test binary: it owns the library's global state for its whole run.

mod p11;

use cryptoki_sys::*;
use eimza_pkcs11::ffi::FUNCTION_LIST as F;
use eimza_pkcs11::reader::software::{software_card, VirtualSoftCard};
use p11::in_process::{
    is_software_slot, login_user, open_session, p256_public_key, p256_verifies, try_software_slot,
};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(6);
const WATCHDOG: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    signatures: AtomicU64,
    /// C_Sign calls that returned something else than CKR_OK (card pulled, token gone,
    /// logged out by another thread...).
    signing_refused: AtomicU64,
    /// Why: C_Sign's return value → how often.
    refusals: std::sync::Mutex<std::collections::BTreeMap<CK_RV, u64>>,
    events: AtomicU64,
    /// Events on the software card's slot (a machine's PC/SC readers may add others).
    card_events: AtomicU64,
    pulls: AtomicU64,
    restarts: AtomicU64,
}

/// What every thread sees.
struct Shared {
    counts: Counts,
    card: Arc<VirtualSoftCard>,
    public_key: p256::ecdsa::VerifyingKey,
    random: AtomicU64,
}

impl Shared {
    /// A pseudo-random number (xorshift), for varying intervals and data.
    fn next_random(&self) -> u64 {
        let mut x = self.random.load(Ordering::Relaxed);
        loop {
            let mut next = x;
            next ^= next << 13;
            next ^= next >> 7;
            next ^= next << 17;
            match self
                .random
                .compare_exchange_weak(x, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => x = seen,
            }
        }
    }
}

fn check(name: &str, rv: CK_RV, counts: &Counts) -> CK_RV {
    assert_ne!(rv, CKR_GENERAL_ERROR, "{name}: CKR_GENERAL_ERROR");
    counts.calls.fetch_add(1, Ordering::Relaxed);
    rv
}

fn initialize() -> CK_RV {
    unsafe { (F.C_Initialize.unwrap())(null_mut()) }
}

fn finalize() -> CK_RV {
    unsafe { (F.C_Finalize.unwrap())(null_mut()) }
}

/// A session on the software card's slot; `None` (after a short pause) while the
/// library is down or the slot cannot be opened.
fn open_on_software_slot(counts: &Counts) -> Option<CK_SESSION_HANDLE> {
    let Some(slot) = try_software_slot() else {
        std::thread::sleep(Duration::from_millis(1));
        return None;
    };
    let session = open_session(slot);
    check("C_OpenSession", session.err().unwrap_or(CKR_OK), counts);
    session.ok()
}

fn signer(shared: &Shared) {
    let counts = &shared.counts;
    let f = &F;
    let Some(s) = open_on_software_slot(counts) else {
        return;
    };
    check("C_Login", login_user(s, b"123456"), counts);
    let class = CKO_PRIVATE_KEY.to_ne_bytes();
    let mut template = [CK_ATTRIBUTE {
        type_: CKA_CLASS,
        pValue: class.as_ptr() as *mut _,
        ulValueLen: class.len() as _,
    }];
    let mut key = 0;
    let mut found = 0;
    unsafe {
        if check(
            "C_FindObjectsInit",
            (f.C_FindObjectsInit.unwrap())(s, template.as_mut_ptr(), 1),
            counts,
        ) == CKR_OK
        {
            check(
                "C_FindObjects",
                (f.C_FindObjects.unwrap())(s, &mut key, 1, &mut found),
                counts,
            );
            check(
                "C_FindObjectsFinal",
                (f.C_FindObjectsFinal.unwrap())(s),
                counts,
            );
        }
    }
    if found == 1 {
        let mut m = CK_MECHANISM {
            mechanism: CKM_ECDSA,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        let data: Vec<u8> = (0..4)
            .flat_map(|_| shared.next_random().to_be_bytes())
            .collect();
        let mut signature = [0u8; 64];
        let mut len = signature.len() as CK_ULONG;
        unsafe {
            if check(
                "C_SignInit",
                (f.C_SignInit.unwrap())(s, &mut m, key),
                counts,
            ) == CKR_OK
            {
                let rv = (f.C_Sign.unwrap())(
                    s,
                    data.as_ptr() as *mut _,
                    32,
                    signature.as_mut_ptr(),
                    &mut len,
                );
                if check("C_Sign", rv, counts) == CKR_OK {
                    assert_eq!(len, 64, "signature length");
                    assert!(
                        p256_verifies(&shared.public_key, &data, &signature),
                        "C_Sign returned CKR_OK with a signature that does not verify"
                    );
                    counts.signatures.fetch_add(1, Ordering::Relaxed);
                } else {
                    counts.signing_refused.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut refusals) = counts.refusals.lock() {
                        *refusals.entry(rv).or_default() += 1;
                    }
                }
            }
        }
    }
    check(
        "C_CloseSession",
        unsafe { (f.C_CloseSession.unwrap())(s) },
        counts,
    );
}

fn logger_out(shared: &Shared) {
    let counts = &shared.counts;
    let f = &F;
    if let Some(s) = open_on_software_slot(counts) {
        check("C_Logout", unsafe { (f.C_Logout.unwrap())(s) }, counts);
        check(
            "C_CloseSession",
            unsafe { (f.C_CloseSession.unwrap())(s) },
            counts,
        );
    }
}

fn lister(shared: &Shared) {
    let counts = &shared.counts;
    let f = &F;
    let mut count: CK_ULONG = 0;
    check(
        "C_GetSlotList",
        unsafe { (f.C_GetSlotList.unwrap())(CK_FALSE, null_mut(), &mut count) },
        counts,
    );
    if let Some(slot) = try_software_slot() {
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        check(
            "C_GetTokenInfo",
            unsafe { (f.C_GetTokenInfo.unwrap())(slot, &mut info) },
            counts,
        );
    }
}

fn waiter(shared: &Shared) {
    let counts = &shared.counts;
    let mut slot = 0;
    // Blocking: returns on a slot event or when C_Finalize runs.
    let rv = unsafe { (F.C_WaitForSlotEvent.unwrap())(0, &mut slot, null_mut()) };
    match check("C_WaitForSlotEvent", rv, counts) {
        CKR_OK => {
            counts.events.fetch_add(1, Ordering::Relaxed);
            if is_software_slot(slot) {
                counts.card_events.fetch_add(1, Ordering::Relaxed);
            }
        }
        CKR_CRYPTOKI_NOT_INITIALIZED => std::thread::sleep(Duration::from_millis(5)),
        _ => {}
    }
}

fn restarter(shared: &Shared) {
    let counts = &shared.counts;
    // Long enough between restarts for a blocked waiter to see a pull (a C_Finalize
    // releases every waiter, and software readers are looked at every 200 ms).
    std::thread::sleep(Duration::from_millis(200 + shared.next_random() % 400));
    check("C_Finalize", finalize(), counts);
    std::thread::sleep(Duration::from_millis(20));
    if check("C_Initialize", initialize(), counts) == CKR_OK {
        counts.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Pulls the card out of its reader and puts it back, at varying intervals; it is
/// always back in when the loop body returns.
fn puller(shared: &Shared) {
    std::thread::sleep(Duration::from_millis(20 + shared.next_random() % 150));
    shared.card.card().remove();
    shared.counts.pulls.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(2 + shared.next_random() % 60));
    shared.card.card().insert();
}

/// Name, loop body, number of threads.
type Role = (&'static str, fn(&Shared), usize);

#[test]
fn sixteen_threads_mixing_calls_and_restarts() {
    let _guard = p11::serial_in_process();
    let card_path = p11::make_card("thread-storm", &["--key", "p256"]);
    let path = card_path.display().to_string();
    std::env::set_var("EIMZA_VIRTUAL_CARD", &path);
    assert_eq!(initialize(), CKR_OK);
    let card = software_card(&path).expect("the module's software card");
    let slot = try_software_slot().expect("the software card's slot");
    let mut session = 0;
    let rv = unsafe {
        (F.C_OpenSession.unwrap())(slot, CKF_SERIAL_SESSION, null_mut(), None, &mut session)
    };
    assert_eq!(rv, CKR_OK);
    let public_key = p256_public_key(session);
    assert_eq!(unsafe { (F.C_CloseSession.unwrap())(session) }, CKR_OK);
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        counts: Counts::default(),
        card,
        public_key,
        random: AtomicU64::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1,
        ),
    });
    let roles: [Role; 6] = [
        ("signer", signer, 5),
        ("logout", logger_out, 2),
        ("lister", lister, 3),
        ("waiter", waiter, 3),
        ("restart", restarter, 2),
        ("puller", puller, 1),
    ];
    let (done_tx, done_rx) = mpsc::channel();
    let mut threads = 0;
    for (name, role, n) in roles {
        for i in 0..n {
            let (stop, shared, done) = (stop.clone(), shared.clone(), done_tx.clone());
            threads += 1;
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        while !stop.load(Ordering::Relaxed) {
                            role(&shared);
                        }
                    }));
                    let _ = done.send((format!("{name}-{i}"), outcome.is_ok()));
                })
                .expect("spawn");
        }
    }
    assert_eq!(threads, 16);
    let started = Instant::now();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    // Wake the waiters: after this C_Finalize they see CKR_CRYPTOKI_NOT_INITIALIZED
    // (or a restarter initialised again and the next finalize wakes them).
    let deadline = Instant::now() + WATCHDOG;
    let mut finished = Vec::new();
    while finished.len() < threads {
        let _ = finalize();
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "deadlock: only {finished:?} stopped within {WATCHDOG:?}"
        );
        if let Ok((name, ok)) = done_rx.recv_timeout(left.min(Duration::from_millis(200))) {
            assert!(ok, "{name} failed (see its panic above)");
            finished.push(name);
        }
    }
    let _ = finalize();
    let counts = &shared.counts;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "16 threads for {:.1} s: {} calls, {} signatures verified ({} signing calls refused), \
         {} slot events ({} on the software card), {} card pulls, {} restarts",
        started.elapsed().as_secs_f64(),
        load(&counts.calls),
        load(&counts.signatures),
        load(&counts.signing_refused),
        load(&counts.events),
        load(&counts.card_events),
        load(&counts.pulls),
        load(&counts.restarts),
    );
    let refusals = counts
        .refusals
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    eprintln!("C_Sign refusals by return value: {refusals:x?}");
    assert!(load(&counts.signatures) > 0, "no signature went through");
    assert!(load(&counts.restarts) > 0, "the library never restarted");
    assert!(load(&counts.pulls) > 0, "the card was never pulled");
    assert!(
        load(&counts.card_events) > 0,
        "no waiter saw the software card's slot events"
    );
    // What pulls, other threads' logouts and restarts may cause (pkcs11-spec.md §2.3,
    // §2.4, §2.8); anything else (CKR_DEVICE_ERROR for a pulled card...) is a bug.
    let expected = [
        CKR_DEVICE_REMOVED,
        CKR_USER_NOT_LOGGED_IN,
        CKR_SESSION_HANDLE_INVALID,
        CKR_SESSION_CLOSED,
        CKR_TOKEN_NOT_PRESENT,
        CKR_CRYPTOKI_NOT_INITIALIZED,
    ];
    let unexpected: Vec<_> = refusals
        .keys()
        .filter(|rv| !expected.contains(rv))
        .collect();
    assert!(unexpected.is_empty(), "C_Sign returned {unexpected:x?}");
    // Only the right PIN was ever sent: pulls and restarts mid-login spend no try.
    let pin = shared.card.card().status().pin.expect("a user PIN");
    assert_eq!(pin.tries_left, pin.max_tries, "PIN tries spent");
}
