//! A hostile application: random sequences of PKCS#11 calls with random arguments
//! (handles, lengths, templates, mechanisms, NULL pointers, calls out of order) through
//! the module's C entry points, in process, against three software cards made once
//! (a fresh in-memory copy at every C_Initialize, so a blocked PIN does not stick).
//! The cards may also be pulled, re-inserted or reset between calls.
//!
//! Pointers are NULL or valid for the length passed, as PKCS#11 requires of callers:
//! a caller lying about a buffer size cannot be defended against.
#![no_main]

use cryptoki_sys::*;
use eimza_fuzz::Input;
use eimza_pkcs11::reader::software::{SoftCard, SoftwareReader, VirtualSoftCard};
use eimza_pkcs11::reader::{Reader, ReaderSet, SystemReaderSet};
use libfuzzer_sys::fuzz_target;
use std::ptr::null_mut;
use std::sync::{Arc, Mutex, OnceLock};
use virtual_card::personalise::{create, CreateOptions};
use virtual_card::{CardFamily, CardImage, KeyAlgorithm, VirtualCard};

const PIN: &[u8] = b"123456";
const PUK: &[u8] = b"12345678";

/// Card A: RSA-2048 + P-256; card B: P-256 with userConsent (context-specific login);
/// card C: an AKIS v1.0 card (RSA-2048 only), whose commands take the v1.0 paths of the
/// card layer (SELECT with `3F00`, MSE `C3`, CHANGE with length bytes, no counter
/// query) and whose token lists PKCS#1 v1.5 only.
fn images() -> &'static [CardImage; 3] {
    static IMAGES: OnceLock<[CardImage; 3]> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let make = |keys, user_consent, serial: u8, family| {
            create(&CreateOptions {
                keys,
                pin: String::from("123456").into(),
                puk: String::from("12345678").into(),
                serial: Some(vec![0xF0, serial]),
                user_consent,
                ca_dir: None,
                tls_client_keys: Vec::new(),
                family,
            })
            .expect("personalise fuzz card")
        };
        [
            make(
                vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::P256],
                false,
                1,
                CardFamily::default(),
            ),
            make(vec![KeyAlgorithm::P256], true, 2, CardFamily::default()),
            make(vec![KeyAlgorithm::Rsa2048], false, 3, CardFamily::V10),
        ]
    })
}

/// The cards of the current C_Initialize (the fuzz input pulls and resets them).
static CARDS: Mutex<Vec<Arc<VirtualSoftCard>>> = Mutex::new(Vec::new());

fn fresh_readers() -> Arc<dyn ReaderSet> {
    let mut cards = CARDS.lock().unwrap_or_else(|e| e.into_inner());
    cards.clear();
    let mut readers = Vec::new();
    for (i, image) in images().iter().enumerate() {
        let card = Arc::new(VirtualSoftCard::new(
            VirtualCard::from_image(image.clone(), None).expect("in-memory card"),
        ));
        cards.push(card.clone());
        readers.push(Arc::new(SoftwareReader::new(
            format!("fuzz card {i}"),
            Some(card as Arc<dyn SoftCard>),
        )) as Arc<dyn Reader>);
    }
    Arc::new(SystemReaderSet::new(None, readers))
}

extern "C" fn create_mutex(mutex: *mut *mut std::ffi::c_void) -> CK_RV {
    if !mutex.is_null() {
        unsafe { *mutex = std::ptr::dangling_mut() };
    }
    CKR_OK
}
extern "C" fn mutex_op(_: *mut std::ffi::c_void) -> CK_RV {
    CKR_OK
}

const MECHANISMS: &[CK_MECHANISM_TYPE] = &[
    CKM_RSA_PKCS,
    CKM_RSA_X_509,
    CKM_SHA1_RSA_PKCS,
    CKM_SHA256_RSA_PKCS,
    CKM_SHA512_RSA_PKCS,
    CKM_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA384_RSA_PKCS_PSS,
    CKM_ECDSA,
    CKM_ECDSA_SHA256,
    CKM_ECDSA_SHA384,
    CKM_ECDSA_SHA512,
    CKM_SHA256,
    CKM_SHA_1,
    CKM_SHA512,
];

const ATTRIBUTES: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_ID,
    CKA_VALUE,
    CKA_SUBJECT,
    CKA_KEY_TYPE,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_SIGN,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_PRIVATE_EXPONENT,
    CKA_CERTIFICATE_TYPE,
    CKA_PUBLIC_KEY_INFO,
    CKA_ALLOWED_MECHANISMS,
];

/// Handles seen so far, so most calls use live ones and some use garbage.
#[derive(Default)]
struct Seen {
    slots: Vec<CK_SLOT_ID>,
    sessions: Vec<CK_SESSION_HANDLE>,
    objects: Vec<CK_OBJECT_HANDLE>,
}

fn pick(input: &mut Input<'_>, known: &[CK_ULONG]) -> CK_ULONG {
    let b = input.u8();
    match b {
        0xF0 => 0,
        0xF1 => CK_ULONG::MAX,
        0xF2..=0xFF => CK_ULONG::from(input.u32()),
        _ if known.is_empty() => CK_ULONG::from(b),
        _ => known[usize::from(b) % known.len()],
    }
}

/// A byte string argument: NULL (length 0), one of the real secrets, or fuzz bytes.
fn secret<'a>(input: &mut Input<'a>) -> Option<&'a [u8]> {
    match input.u8() % 5 {
        0 => None,
        1 | 2 => Some(PIN),
        3 => Some(PUK),
        _ => input.chunk(),
    }
}

fn ptr_len(value: Option<&[u8]>) -> (*mut u8, CK_ULONG) {
    match value {
        Some(v) => (v.as_ptr() as *mut u8, v.len() as CK_ULONG),
        None => (null_mut(), 0),
    }
}

/// Attribute templates: types known or random, values from the input, NULL values with
/// random lengths (a size query, legal), and buffers of every size.
struct Template {
    attributes: Vec<CK_ATTRIBUTE>,
    _buffers: Vec<Vec<u8>>,
}

fn template(input: &mut Input<'_>, for_output: bool) -> Template {
    let count = usize::from(input.u8() % 6);
    let mut attributes = Vec::new();
    let mut buffers = Vec::new();
    for _ in 0..count {
        let t = input.u8();
        let type_ = if usize::from(t) < ATTRIBUTES.len() * 8 {
            ATTRIBUTES[usize::from(t) % ATTRIBUTES.len()]
        } else {
            CK_ULONG::from(input.u32())
        };
        let mode = input.u8() % 3;
        let mut buffer = match (mode, for_output) {
            (0, _) => Vec::new(),
            (_, true) => vec![0u8; usize::from(input.u16() % 600)],
            (_, false) => input.chunk().unwrap_or_default().to_vec(),
        };
        let (p, len) = if mode == 0 {
            // NULL pValue: lengths are ignored on output, must be 0 on input.
            let len = if for_output {
                CK_ULONG::from(input.u32())
            } else {
                0
            };
            (null_mut(), len)
        } else {
            (buffer.as_mut_ptr().cast(), buffer.len() as CK_ULONG)
        };
        attributes.push(CK_ATTRIBUTE {
            type_,
            pValue: p,
            ulValueLen: len,
        });
        buffers.push(buffer);
    }
    Template {
        attributes,
        _buffers: buffers,
    }
}

fn template_ptr(t: &mut Template, input: &mut Input<'_>) -> (*mut CK_ATTRIBUTE, CK_ULONG) {
    if t.attributes.is_empty() && input.bool() {
        // NULL template with a count: the module must check the pointer.
        (null_mut(), CK_ULONG::from(input.u8()))
    } else {
        (t.attributes.as_mut_ptr(), t.attributes.len() as CK_ULONG)
    }
}

/// Output buffer for a "length query or fill" call: NULL, too small, or big enough.
fn out_buffer(input: &mut Input<'_>) -> Vec<u8> {
    match input.u8() % 3 {
        0 => Vec::new(),
        1 => vec![0; usize::from(input.u8())],
        _ => vec![0; 1024],
    }
}

fn out_ptr(buffer: &mut [u8]) -> *mut u8 {
    if buffer.is_empty() {
        null_mut()
    } else {
        buffer.as_mut_ptr()
    }
}

fn mechanism(input: &mut Input<'_>) -> (CK_MECHANISM, Vec<u64>) {
    let b = input.u8();
    let type_ = if usize::from(b) < MECHANISMS.len() * 16 {
        MECHANISMS[usize::from(b) % MECHANISMS.len()]
    } else {
        CK_ULONG::from(input.u32())
    };
    // Parameters in an 8-aligned buffer (a struct the module may read in place).
    let mut param = vec![0u64; 8];
    let (p, len) = match input.u8() % 4 {
        0 => (null_mut(), 0),
        1 => {
            let pss = CK_RSA_PKCS_PSS_PARAMS {
                hashAlg: [CKM_SHA256, CKM_SHA_1, CKM_SHA384, CKM_SHA512]
                    [usize::from(input.u8() % 4)],
                mgf: [CKG_MGF1_SHA256, CKG_MGF1_SHA1, CKG_MGF1_SHA384, 77]
                    [usize::from(input.u8() % 4)],
                sLen: CK_ULONG::from(input.u8()),
            };
            unsafe { std::ptr::write(param.as_mut_ptr().cast(), pss) };
            (
                param.as_mut_ptr().cast(),
                std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
            )
        }
        2 => {
            let bytes = input.bytes(64);
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    param.as_mut_ptr().cast(),
                    bytes.len(),
                )
            };
            (param.as_mut_ptr().cast(), bytes.len() as CK_ULONG)
        }
        _ => (null_mut(), CK_ULONG::from(input.u8())),
    };
    (
        CK_MECHANISM {
            mechanism: type_,
            pParameter: p,
            ulParameterLen: len,
        },
        param,
    )
}

unsafe fn step(f: &CK_FUNCTION_LIST_3_0, input: &mut Input<'_>, seen: &mut Seen) -> CK_RV {
    let op = input.u8();
    // Ops 34.. (digest, verification) came later: seeds only use bytes below 34.
    match op % 38 {
        0 => {
            let mut args = CK_C_INITIALIZE_ARGS {
                CreateMutex: None,
                DestroyMutex: None,
                LockMutex: None,
                UnlockMutex: None,
                flags: CK_ULONG::from(input.u8()),
                pReserved: null_mut(),
            };
            match input.u8() % 4 {
                0 => return f.C_Initialize.unwrap()(null_mut()),
                1 => {}
                2 => {
                    args.CreateMutex = Some(create_mutex);
                    args.DestroyMutex = Some(mutex_op);
                    args.LockMutex = Some(mutex_op);
                    args.UnlockMutex = Some(mutex_op);
                }
                _ => args.CreateMutex = Some(create_mutex),
            }
            f.C_Initialize.unwrap()((&mut args as *mut CK_C_INITIALIZE_ARGS).cast())
        }
        1 => {
            seen.sessions.clear();
            seen.objects.clear();
            f.C_Finalize.unwrap()(null_mut())
        }
        2 => {
            let mut info: CK_INFO = std::mem::zeroed();
            f.C_GetInfo.unwrap()(if input.bool() { &mut info } else { null_mut() })
        }
        3 => {
            let present = CK_BBOOL::from(input.bool());
            let mut slots = vec![0; usize::from(input.u8() % 4)];
            let mut count = slots.len() as CK_ULONG;
            let list = if slots.is_empty() {
                null_mut()
            } else {
                slots.as_mut_ptr()
            };
            let count_ptr = if input.u8() == 0xEE {
                null_mut()
            } else {
                &mut count as *mut _
            };
            let rv = f.C_GetSlotList.unwrap()(present, list, count_ptr);
            if rv == CKR_OK && !list.is_null() {
                assert!(count as usize <= slots.len(), "slot count past the buffer");
                seen.slots.extend_from_slice(&slots[..count as usize]);
                seen.slots.dedup();
            }
            rv
        }
        4 => {
            let slot = pick(input, &seen.slots);
            let mut info: CK_SLOT_INFO = std::mem::zeroed();
            f.C_GetSlotInfo.unwrap()(slot, if input.bool() { &mut info } else { null_mut() })
        }
        5 => {
            let slot = pick(input, &seen.slots);
            let mut info: CK_TOKEN_INFO = std::mem::zeroed();
            f.C_GetTokenInfo.unwrap()(slot, if input.bool() { &mut info } else { null_mut() })
        }
        6 => {
            let slot = pick(input, &seen.slots);
            let mut list = vec![0; usize::from(input.u8() % 20)];
            let mut count = list.len() as CK_ULONG;
            let p = if list.is_empty() {
                null_mut()
            } else {
                list.as_mut_ptr()
            };
            let rv = f.C_GetMechanismList.unwrap()(slot, p, &mut count);
            if rv == CKR_OK && !p.is_null() {
                assert!(
                    count as usize <= list.len(),
                    "mechanism count past the buffer"
                );
            }
            rv
        }
        7 => {
            let slot = pick(input, &seen.slots);
            let (m, _param) = mechanism(input);
            let mut info: CK_MECHANISM_INFO = std::mem::zeroed();
            f.C_GetMechanismInfo.unwrap()(
                slot,
                m.mechanism,
                if input.bool() { &mut info } else { null_mut() },
            )
        }
        8 => {
            let slot = pick(input, &seen.slots);
            let flags = match input.u8() % 4 {
                0 => CKF_SERIAL_SESSION,
                1 => CKF_SERIAL_SESSION | CKF_RW_SESSION,
                2 => 0,
                _ => CK_ULONG::from(input.u32()),
            };
            let mut session = 0;
            let out = if input.u8() == 0xEE {
                null_mut()
            } else {
                &mut session as *mut _
            };
            let rv = f.C_OpenSession.unwrap()(slot, flags, null_mut(), None, out);
            if rv == CKR_OK {
                assert_ne!(session, CK_INVALID_HANDLE, "session handle 0");
                seen.sessions.push(session);
            }
            rv
        }
        9 => f.C_CloseSession.unwrap()(pick(input, &seen.sessions)),
        10 => f.C_CloseAllSessions.unwrap()(pick(input, &seen.slots)),
        11 => {
            let s = pick(input, &seen.sessions);
            let mut info: CK_SESSION_INFO = std::mem::zeroed();
            f.C_GetSessionInfo.unwrap()(s, if input.bool() { &mut info } else { null_mut() })
        }
        12 | 13 => {
            let s = pick(input, &seen.sessions);
            let user = match input.u8() % 5 {
                0 | 1 => CKU_USER,
                2 => CKU_SO,
                3 => CKU_CONTEXT_SPECIFIC,
                _ => CK_ULONG::from(input.u32()),
            };
            let (p, len) = ptr_len(secret(input));
            f.C_Login.unwrap()(s, user, p, len)
        }
        14 => f.C_Logout.unwrap()(pick(input, &seen.sessions)),
        15 => {
            let s = pick(input, &seen.sessions);
            let (op, ol) = ptr_len(secret(input));
            let (np, nl) = ptr_len(secret(input));
            f.C_SetPIN.unwrap()(s, op, ol, np, nl)
        }
        16 => {
            let s = pick(input, &seen.sessions);
            let (p, l) = ptr_len(secret(input));
            f.C_InitPIN.unwrap()(s, p, l)
        }
        17 | 18 => {
            let s = pick(input, &seen.sessions);
            let mut t = template(input, false);
            let (p, n) = template_ptr(&mut t, input);
            f.C_FindObjectsInit.unwrap()(s, p, n)
        }
        19 | 20 => {
            let s = pick(input, &seen.sessions);
            let mut found = vec![0; usize::from(input.u8() % 12)];
            let mut count = CK_ULONG::MAX;
            let p = if found.is_empty() {
                null_mut()
            } else {
                found.as_mut_ptr()
            };
            let max = if p.is_null() {
                CK_ULONG::from(input.u8() % 2)
            } else {
                found.len() as CK_ULONG
            };
            let rv = f.C_FindObjects.unwrap()(s, p, max, &mut count);
            if rv == CKR_OK {
                assert!(count <= max, "C_FindObjects returned more than asked");
                seen.objects.extend_from_slice(&found[..count as usize]);
            }
            rv
        }
        21 => f.C_FindObjectsFinal.unwrap()(pick(input, &seen.sessions)),
        22 | 23 => {
            let s = pick(input, &seen.sessions);
            let o = pick(input, &seen.objects);
            let mut t = template(input, true);
            let (p, n) = template_ptr(&mut t, input);
            let before: Vec<CK_ULONG> = t.attributes.iter().map(|a| a.ulValueLen).collect();
            let rv = f.C_GetAttributeValue.unwrap()(s, o, p, n);
            for (a, len_before) in t.attributes.iter().zip(before) {
                // Never claims to have written past the caller's buffer.
                if !a.pValue.is_null() && a.ulValueLen != CK_UNAVAILABLE_INFORMATION {
                    assert!(
                        a.ulValueLen <= len_before,
                        "attribute length past the buffer"
                    );
                }
            }
            rv
        }
        24 => {
            let s = pick(input, &seen.sessions);
            let o = pick(input, &seen.objects);
            let mut size: CK_ULONG = 0;
            f.C_GetObjectSize.unwrap()(s, o, if input.bool() { &mut size } else { null_mut() })
        }
        25 | 26 => {
            let s = pick(input, &seen.sessions);
            let key = pick(input, &seen.objects);
            let (mut m, _param) = mechanism(input);
            let mp = if input.u8() == 0xEE {
                null_mut()
            } else {
                &mut m as *mut _
            };
            f.C_SignInit.unwrap()(s, mp, key)
        }
        27 | 28 => {
            let s = pick(input, &seen.sessions);
            let data = input.chunk().map(<[u8]>::to_vec);
            let (dp, dl) = ptr_len(data.as_deref());
            let mut sig = out_buffer(input);
            let mut len = sig.len() as CK_ULONG;
            let lp = if input.u8() == 0xEE {
                null_mut()
            } else {
                &mut len as *mut _
            };
            let rv = f.C_Sign.unwrap()(s, dp, dl, out_ptr(&mut sig), lp);
            if rv == CKR_OK && !sig.is_empty() {
                assert!(
                    len as usize <= sig.len(),
                    "signature length past the buffer"
                );
            }
            rv
        }
        29 => {
            let s = pick(input, &seen.sessions);
            let data = input.chunk().map(<[u8]>::to_vec);
            let (dp, dl) = ptr_len(data.as_deref());
            f.C_SignUpdate.unwrap()(s, dp, dl)
        }
        30 => {
            let s = pick(input, &seen.sessions);
            let mut sig = out_buffer(input);
            let mut len = sig.len() as CK_ULONG;
            let rv = f.C_SignFinal.unwrap()(s, out_ptr(&mut sig), &mut len);
            if rv == CKR_OK && !sig.is_empty() {
                assert!(
                    len as usize <= sig.len(),
                    "signature length past the buffer"
                );
            }
            rv
        }
        31 => {
            let s = pick(input, &seen.sessions);
            let mut buffer = vec![0u8; usize::from(input.u16() % 4096)];
            let p = if buffer.is_empty() {
                null_mut()
            } else {
                buffer.as_mut_ptr()
            };
            let len = if p.is_null() {
                CK_ULONG::from(input.u8() % 2)
            } else {
                buffer.len() as CK_ULONG
            };
            f.C_GenerateRandom.unwrap()(s, p, len)
        }
        32 => {
            let mut slot: CK_SLOT_ID = 0;
            let sp = if input.bool() {
                &mut slot as *mut _
            } else {
                null_mut()
            };
            f.C_WaitForSlotEvent.unwrap()(CKF_DONT_BLOCK, sp, null_mut())
        }
        34 => {
            let s = pick(input, &seen.sessions);
            let (mut m, _param) = mechanism(input);
            f.C_DigestInit.unwrap()(s, &mut m)
        }
        35 => {
            let s = pick(input, &seen.sessions);
            let data = input.chunk().map(<[u8]>::to_vec);
            let (dp, dl) = ptr_len(data.as_deref());
            let mut out = out_buffer(input);
            let mut len = out.len() as CK_ULONG;
            let rv = match input.u8() % 4 {
                0 => f.C_Digest.unwrap()(s, dp, dl, out_ptr(&mut out), &mut len),
                1 => f.C_DigestUpdate.unwrap()(s, dp, dl),
                2 => f.C_DigestKey.unwrap()(s, pick(input, &seen.objects)),
                _ => f.C_DigestFinal.unwrap()(s, out_ptr(&mut out), &mut len),
            };
            if rv == CKR_OK && !out.is_empty() {
                assert!(len as usize <= out.len(), "digest length past the buffer");
            }
            rv
        }
        36 => {
            let s = pick(input, &seen.sessions);
            let key = pick(input, &seen.objects);
            let (mut m, _param) = mechanism(input);
            f.C_VerifyInit.unwrap()(s, &mut m, key)
        }
        37 => {
            let s = pick(input, &seen.sessions);
            let data = input.chunk().map(<[u8]>::to_vec);
            let (dp, dl) = ptr_len(data.as_deref());
            let signature = input.chunk().map(<[u8]>::to_vec);
            let (sp, sl) = ptr_len(signature.as_deref());
            match input.u8() % 3 {
                0 => f.C_Verify.unwrap()(s, dp, dl, sp, sl),
                1 => f.C_VerifyUpdate.unwrap()(s, dp, dl),
                _ => f.C_VerifyFinal.unwrap()(s, sp, sl),
            }
        }
        _ => {
            // Pull, re-insert or reset a card between calls; or the functions a read-only
            // signing token refuses.
            let cards = CARDS.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let which = input.u8();
            let card = cards.get(usize::from(which / 8) % cards.len().max(1));
            match (which % 8, card) {
                (0, Some(c)) => c.card().remove(),
                (1, Some(c)) => c.card().insert(),
                (2, Some(c)) => c.reset(),
                (3, _) => {
                    let s = pick(input, &seen.sessions);
                    let o = pick(input, &seen.objects);
                    return f.C_DestroyObject.unwrap()(s, o);
                }
                (4, _) => {
                    let s = pick(input, &seen.sessions);
                    let mut t = template(input, false);
                    let (p, n) = template_ptr(&mut t, input);
                    let mut o = 0;
                    return f.C_CreateObject.unwrap()(s, p, n, &mut o);
                }
                (5, _) => {
                    let s = pick(input, &seen.sessions);
                    let o = pick(input, &seen.objects);
                    let mut t = template(input, false);
                    let (p, n) = template_ptr(&mut t, input);
                    return f.C_SetAttributeValue.unwrap()(s, o, p, n);
                }
                (6, _) => {
                    let s = pick(input, &seen.sessions);
                    let seed = input.chunk();
                    let (p, l) = ptr_len(seed);
                    return f.C_SeedRandom.unwrap()(s, p, l);
                }
                _ => {
                    let s = pick(input, &seen.sessions);
                    let (up, ul) = ptr_len(input.chunk());
                    let (p, l) = ptr_len(secret(input));
                    return f.C_LoginUser.unwrap()(s, CKU_USER, p, l, up, ul);
                }
            }
            CKR_OK
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static SETUP: OnceLock<()> = OnceLock::new();
    SETUP.get_or_init(|| {
        images();
        eimza_pkcs11::ffi::set_reader_source(Some(fresh_readers));
    });
    let f = &eimza_pkcs11::ffi::FUNCTION_LIST_3_0;
    let mut input = Input::new(data);
    let mut seen = Seen::default();
    unsafe {
        let _ = f.C_Initialize.unwrap()(null_mut());
        let mut steps = 0;
        while !input.is_empty() && steps < 64 {
            let rv = step(f, &mut input, &mut seen);
            // An internal error is what a caught panic becomes at the C edge.
            assert_ne!(rv, CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR");
            steps += 1;
        }
        let _ = f.C_Finalize.unwrap()(null_mut());
    }
});
