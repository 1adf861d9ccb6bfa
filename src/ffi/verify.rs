//! Signature verification (PKCS#11 §5.14; pkcs11-spec.md §2.12): computed in the module.

use super::sign::{describe_mechanism, read_mechanism};
use super::*;
use crate::verify::end_on_failure;

#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(
        "C_VerifyInit",
        || {
            // SAFETY: pMechanism is NULL or the caller's CK_MECHANISM.
            let described = unsafe { describe_mechanism(pMechanism) };
            format!("hSession={hSession}, {described}, hKey={hKey}")
        },
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pMechanism is NULL or the caller's CK_MECHANISM with its parameters.
            let (mechanism, has_params, pss) = unsafe { read_mechanism(pMechanism) }?;
            crate::verify::verify_init(&session, mechanism, has_params, pss, hKey)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_Verify(
    hSession: CK_SESSION_HANDLE,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pSignature: *mut CK_BYTE,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_Verify",
        || {
            format!("hSession={hSession}, pData={pData:p}, ulDataLen={ulDataLen}, pSignature={pSignature:p}, ulSignatureLen={ulSignatureLen}")
        },
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pData holds ulDataLen bytes, pSignature ulSignatureLen bytes.
                let (data, signature) = unsafe {
                    (
                        in_slice(pData, ulDataLen),
                        in_slice(pSignature, ulSignatureLen),
                    )
                };
                crate::verify::verify(&session, data?, signature?)
            })();
            end_on_failure(&session, outcome)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: *mut CK_BYTE,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_VerifyUpdate",
        || format!("hSession={hSession}, pPart={pPart:p}, ulPartLen={ulPartLen}"),
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pPart holds ulPartLen bytes.
                let part = unsafe { in_slice(pPart, ulPartLen) }?;
                crate::verify::verify_update(&session, part)
            })();
            end_on_failure(&session, outcome)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(
    hSession: CK_SESSION_HANDLE,
    pSignature: *mut CK_BYTE,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_VerifyFinal",
        || {
            format!(
                "hSession={hSession}, pSignature={pSignature:p}, ulSignatureLen={ulSignatureLen}"
            )
        },
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pSignature holds ulSignatureLen bytes.
                let signature = unsafe { in_slice(pSignature, ulSignatureLen) }?;
                crate::verify::verify_final(&session, signature)
            })();
            end_on_failure(&session, outcome)
        },
    )
}
