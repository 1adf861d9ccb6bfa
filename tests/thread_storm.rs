//! 16 threads mixing C_WaitForSlotEvent, C_GetSlotList/C_GetTokenInfo, C_Sign,
//! C_Logout and C_Finalize/C_Initialize for a bounded time. No deadlock (a watchdog
//! fails the test if the threads do not all stop in time), no crash, never
//! CKR_GENERAL_ERROR (what a caught panic becomes), and signatures keep succeeding.
//! Its own test binary: it owns the library's global state for its whole run.

mod p11;

use cryptoki_sys::*;
use p11::*;
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
    events: AtomicU64,
    restarts: AtomicU64,
}

fn check(name: &str, rv: CK_RV, counts: &Counts) -> CK_RV {
    assert_ne!(rv, CKR_GENERAL_ERROR, "{name}: CKR_GENERAL_ERROR");
    counts.calls.fetch_add(1, Ordering::Relaxed);
    rv
}

fn card_slot() -> Option<CK_SLOT_ID> {
    let mut slots = [0; 8];
    let mut count = slots.len() as CK_ULONG;
    let rv =
        unsafe { (functions().C_GetSlotList.unwrap())(CK_TRUE, slots.as_mut_ptr(), &mut count) };
    (rv == CKR_OK && count > 0).then(|| slots[count as usize - 1])
}

fn signer(counts: &Counts) {
    let f = functions();
    let Some(slot) = card_slot() else { return };
    let mut s = 0;
    let rv =
        unsafe { (f.C_OpenSession.unwrap())(slot, CKF_SERIAL_SESSION, null_mut(), None, &mut s) };
    if check("C_OpenSession", rv, counts) != CKR_OK {
        return;
    }
    let pin = b"123456";
    let rv = unsafe { (f.C_Login.unwrap())(s, CKU_USER, pin.as_ptr() as *mut _, 6) };
    check("C_Login", rv, counts);
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
        let data = [0x5Au8; 32];
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
                    counts.signatures.fetch_add(1, Ordering::Relaxed);
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

fn logger_out(counts: &Counts) {
    let f = functions();
    let Some(slot) = card_slot() else { return };
    let mut s = 0;
    let rv =
        unsafe { (f.C_OpenSession.unwrap())(slot, CKF_SERIAL_SESSION, null_mut(), None, &mut s) };
    if check("C_OpenSession", rv, counts) == CKR_OK {
        check("C_Logout", unsafe { (f.C_Logout.unwrap())(s) }, counts);
        check(
            "C_CloseSession",
            unsafe { (f.C_CloseSession.unwrap())(s) },
            counts,
        );
    }
}

fn lister(counts: &Counts) {
    let f = functions();
    let mut count: CK_ULONG = 0;
    check(
        "C_GetSlotList",
        unsafe { (f.C_GetSlotList.unwrap())(CK_FALSE, null_mut(), &mut count) },
        counts,
    );
    if let Some(slot) = card_slot() {
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        check(
            "C_GetTokenInfo",
            unsafe { (f.C_GetTokenInfo.unwrap())(slot, &mut info) },
            counts,
        );
    }
}

fn waiter(counts: &Counts) {
    let mut slot = 0;
    // Blocking: returns on a slot event or when C_Finalize runs.
    let rv = unsafe { (functions().C_WaitForSlotEvent.unwrap())(0, &mut slot, null_mut()) };
    match check("C_WaitForSlotEvent", rv, counts) {
        CKR_OK => {
            counts.events.fetch_add(1, Ordering::Relaxed);
        }
        CKR_CRYPTOKI_NOT_INITIALIZED => std::thread::sleep(Duration::from_millis(5)),
        _ => {}
    }
}

fn restarter(counts: &Counts) {
    std::thread::sleep(Duration::from_millis(150));
    check("C_Finalize", finalize(), counts);
    std::thread::sleep(Duration::from_millis(20));
    if check("C_Initialize", initialize(), counts) == CKR_OK {
        counts.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Name, loop body, number of threads.
type Role = (&'static str, fn(&Counts), usize);

#[test]
fn sixteen_threads_mixing_calls_and_restarts() {
    let _guard = serial();
    let card = make_card("thread-storm", &["--key", "p256"]);
    std::env::set_var("EIMZA_VIRTUAL_CARD", &card);
    assert_eq!(initialize(), CKR_OK);
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let roles: [Role; 5] = [
        ("signer", signer, 5),
        ("logout", logger_out, 2),
        ("lister", lister, 3),
        ("waiter", waiter, 4),
        ("restart", restarter, 2),
    ];
    let (done_tx, done_rx) = mpsc::channel();
    let mut threads = 0;
    for (name, role, n) in roles {
        for i in 0..n {
            let (stop, counts, done) = (stop.clone(), counts.clone(), done_tx.clone());
            threads += 1;
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        while !stop.load(Ordering::Relaxed) {
                            role(&counts);
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
    eprintln!(
        "16 threads for {:.1} s: {} calls, {} signatures, {} slot events, {} restarts",
        started.elapsed().as_secs_f64(),
        counts.calls.load(Ordering::Relaxed),
        counts.signatures.load(Ordering::Relaxed),
        counts.events.load(Ordering::Relaxed),
        counts.restarts.load(Ordering::Relaxed),
    );
    assert!(
        counts.signatures.load(Ordering::Relaxed) > 0,
        "no signature went through"
    );
    assert!(
        counts.restarts.load(Ordering::Relaxed) > 0,
        "the library never restarted"
    );
}
