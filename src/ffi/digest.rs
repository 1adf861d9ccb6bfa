//! Message digesting (PKCS#11 §5.12; pkcs11-spec.md §2.12): computed in the module.

use super::sign::{describe_mechanism, read_mechanism};
use super::*;
use crate::digest::end_on_failure;

#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
) -> CK_RV {
    entry(
        "C_DigestInit",
        || {
            // SAFETY: pMechanism is NULL or the caller's CK_MECHANISM.
            let described = unsafe { describe_mechanism(pMechanism) };
            format!("hSession={hSession}, {described}")
        },
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pMechanism is NULL or the caller's CK_MECHANISM with its parameters.
            let (mechanism, has_params, _) = unsafe { read_mechanism(pMechanism) }?;
            crate::digest::digest_init(&session, mechanism, has_params)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    hSession: CK_SESSION_HANDLE,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pDigest: *mut CK_BYTE,
    pulDigestLen: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_Digest",
        || {
            format!("hSession={hSession}, pData={pData:p}, ulDataLen={ulDataLen}, pDigest={pDigest:p}, pulDigestLen={pulDigestLen:p}")
        },
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pData holds ulDataLen bytes; pulDigestLen is NULL or a CK_ULONG.
                let (data, capacity) = unsafe {
                    (
                        in_slice(pData, ulDataLen),
                        out_capacity(pDigest, pulDigestLen),
                    )
                };
                let output = crate::digest::digest(&session, data?, capacity?)?;
                // SAFETY: pDigest is NULL or holds *pulDigestLen bytes.
                unsafe { deliver(output, pDigest, pulDigestLen) }
            })();
            end_on_failure(&session, outcome)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: *mut CK_BYTE,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_DigestUpdate",
        || format!("hSession={hSession}, pPart={pPart:p}, ulPartLen={ulPartLen}"),
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pPart holds ulPartLen bytes.
                let part = unsafe { in_slice(pPart, ulPartLen) }?;
                crate::digest::digest_update(&session, part)
            })();
            end_on_failure(&session, outcome)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestKey(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) -> CK_RV {
    entry(
        "C_DigestKey",
        || format!("hSession={hSession}, hKey={hKey}"),
        |m| {
            let session = m.session(hSession)?;
            crate::digest::digest_key(&session, hKey)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(
    hSession: CK_SESSION_HANDLE,
    pDigest: *mut CK_BYTE,
    pulDigestLen: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_DigestFinal",
        || format!("hSession={hSession}, pDigest={pDigest:p}, pulDigestLen={pulDigestLen:p}"),
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pulDigestLen is NULL or a CK_ULONG.
                let capacity = unsafe { out_capacity(pDigest, pulDigestLen) }?;
                let output = crate::digest::digest_final(&session, capacity)?;
                // SAFETY: pDigest is NULL or holds *pulDigestLen bytes.
                unsafe { deliver(output, pDigest, pulDigestLen) }
            })();
            end_on_failure(&session, outcome)
        },
    )
}
