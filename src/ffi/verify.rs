//! Signature verification (PKCS#11 §5.14; pkcs11-spec.md §2.12): computed in the module.

use super::sign::{describe_mechanism, read_mechanism};
use super::*;

#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(
        "C_VerifyInit",
        || {
            format!(
                "hSession={hSession}, {}, hKey={hKey}",
                describe_mechanism(pMechanism)
            )
        },
        |m| {
            m.session(hSession)?;
            let (mechanism, has_params, pss) = read_mechanism(pMechanism)?;
            m.verify_init(hSession, mechanism, has_params, pss, hKey)
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
            m.session(hSession)?;
            let data = in_slice(pData, ulDataLen)?;
            let signature = in_slice(pSignature, ulSignatureLen)?;
            m.verify(hSession, data, signature)
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
            m.session(hSession)?;
            let part = in_slice(pPart, ulPartLen)?;
            m.verify_update(hSession, part)
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
            m.session(hSession)?;
            let signature = in_slice(pSignature, ulSignatureLen)?;
            m.verify_final(hSession, signature)
        },
    )
}
