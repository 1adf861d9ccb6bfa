//! Functions the token does not offer. Each still checks initialisation and the
//! session handle first (clients rely on that order), then answers
//! CKR_FUNCTION_NOT_SUPPORTED (or the code the standard names for the case).

use super::*;
use std::ffi::c_void;

macro_rules! not_supported {
    ($name:ident, $rv:expr, ($($arg:ident: $ty:ty),*)) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(hSession: CK_SESSION_HANDLE, $($arg: $ty),*) -> CK_RV {
            $(let _ = $arg;)*
            entry(stringify!($name), || format!("hSession={hSession}"), |m| {
                m.session(hSession)?;
                Err($rv)
            })
        }
    };
}

not_supported!(C_GetOperationState, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: *mut CK_ULONG));
not_supported!(C_SetOperationState, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: CK_OBJECT_HANDLE, arg5: CK_OBJECT_HANDLE));
not_supported!(C_EncryptInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_Encrypt, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_EncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_EncryptFinal, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: *mut CK_ULONG));
not_supported!(C_DecryptInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_Decrypt, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_DecryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_DecryptFinal, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: *mut CK_ULONG));
not_supported!(C_DigestInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM));
not_supported!(C_Digest, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_DigestUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG));
not_supported!(C_DigestKey, CKR_FUNCTION_NOT_SUPPORTED, (arg2: CK_OBJECT_HANDLE));
not_supported!(C_DigestFinal, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: *mut CK_ULONG));
not_supported!(C_SignRecoverInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_SignRecover, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_VerifyInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_Verify, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG));
not_supported!(C_VerifyUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG));
not_supported!(C_VerifyFinal, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG));
not_supported!(C_VerifyRecoverInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_VerifyRecover, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_DigestEncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_DecryptDigestUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_SignEncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_DecryptVerifyUpdate, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_BYTE, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: *mut CK_ULONG));
not_supported!(C_GenerateKey, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: *mut CK_ATTRIBUTE, arg4: CK_ULONG, arg5: *mut CK_OBJECT_HANDLE));
not_supported!(C_GenerateKeyPair, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: *mut CK_ATTRIBUTE, arg4: CK_ULONG, arg5: *mut CK_ATTRIBUTE, arg6: CK_ULONG, arg7: *mut CK_OBJECT_HANDLE, arg8: *mut CK_OBJECT_HANDLE));
not_supported!(C_WrapKey, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE, arg4: CK_OBJECT_HANDLE, arg5: *mut CK_BYTE, arg6: *mut CK_ULONG));
not_supported!(C_UnwrapKey, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_ATTRIBUTE, arg7: CK_ULONG, arg8: *mut CK_OBJECT_HANDLE));
not_supported!(C_DeriveKey, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE, arg4: *mut CK_ATTRIBUTE, arg5: CK_ULONG, arg6: *mut CK_OBJECT_HANDLE));
not_supported!(C_GetFunctionStatus, CKR_FUNCTION_NOT_PARALLEL, ());
not_supported!(C_CancelFunction, CKR_FUNCTION_NOT_PARALLEL, ());
not_supported!(C_MessageEncryptInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_EncryptMessage, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: CK_ULONG, arg8: *mut CK_BYTE, arg9: *mut CK_ULONG));
not_supported!(C_EncryptMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG));
not_supported!(C_EncryptMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: *mut CK_ULONG, arg8: CK_FLAGS));
not_supported!(C_MessageEncryptFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
not_supported!(C_MessageDecryptInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_DecryptMessage, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: CK_ULONG, arg8: *mut CK_BYTE, arg9: *mut CK_ULONG));
not_supported!(C_DecryptMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG));
not_supported!(C_DecryptMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: *mut CK_ULONG, arg8: CK_FLAGS));
not_supported!(C_MessageDecryptFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
not_supported!(C_MessageSignInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_SignMessage, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: *mut CK_ULONG));
not_supported!(C_SignMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG));
not_supported!(C_SignMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: *mut CK_ULONG));
not_supported!(C_MessageSignFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
not_supported!(C_MessageVerifyInit, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut CK_MECHANISM, arg3: CK_OBJECT_HANDLE));
not_supported!(C_VerifyMessage, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: CK_ULONG));
not_supported!(C_VerifyMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG));
not_supported!(C_VerifyMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (arg2: *mut c_void, arg3: CK_ULONG, arg4: *mut CK_BYTE, arg5: CK_ULONG, arg6: *mut CK_BYTE, arg7: CK_ULONG));
not_supported!(C_MessageVerifyFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
