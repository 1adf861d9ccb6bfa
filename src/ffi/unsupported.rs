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

not_supported!(C_GetOperationState, CKR_FUNCTION_NOT_SUPPORTED, (p_operation_state: *mut CK_BYTE, pul_operation_state_len: *mut CK_ULONG));
not_supported!(C_SetOperationState, CKR_FUNCTION_NOT_SUPPORTED, (p_operation_state: *mut CK_BYTE, ul_operation_state_len: CK_ULONG, h_encryption_key: CK_OBJECT_HANDLE, h_authentication_key: CK_OBJECT_HANDLE));
not_supported!(C_EncryptInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_Encrypt, CKR_FUNCTION_NOT_SUPPORTED, (p_data: *mut CK_BYTE, ul_data_len: CK_ULONG, p_encrypted_data: *mut CK_BYTE, pul_encrypted_data_len: *mut CK_ULONG));
not_supported!(C_EncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (p_part: *mut CK_BYTE, ul_part_len: CK_ULONG, p_encrypted_part: *mut CK_BYTE, pul_encrypted_part_len: *mut CK_ULONG));
not_supported!(C_EncryptFinal, CKR_FUNCTION_NOT_SUPPORTED, (p_last_encrypted_part: *mut CK_BYTE, pul_last_encrypted_part_len: *mut CK_ULONG));
not_supported!(C_DecryptInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_Decrypt, CKR_FUNCTION_NOT_SUPPORTED, (p_encrypted_data: *mut CK_BYTE, ul_encrypted_data_len: CK_ULONG, p_data: *mut CK_BYTE, pul_data_len: *mut CK_ULONG));
not_supported!(C_DecryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (p_encrypted_part: *mut CK_BYTE, ul_encrypted_part_len: CK_ULONG, p_part: *mut CK_BYTE, pul_part_len: *mut CK_ULONG));
not_supported!(C_DecryptFinal, CKR_FUNCTION_NOT_SUPPORTED, (p_last_part: *mut CK_BYTE, pul_last_part_len: *mut CK_ULONG));
not_supported!(C_SignRecoverInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_SignRecover, CKR_FUNCTION_NOT_SUPPORTED, (p_data: *mut CK_BYTE, ul_data_len: CK_ULONG, p_signature: *mut CK_BYTE, pul_signature_len: *mut CK_ULONG));
not_supported!(C_VerifyRecoverInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_VerifyRecover, CKR_FUNCTION_NOT_SUPPORTED, (p_signature: *mut CK_BYTE, ul_signature_len: CK_ULONG, p_data: *mut CK_BYTE, pul_data_len: *mut CK_ULONG));
not_supported!(C_DigestEncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (p_part: *mut CK_BYTE, ul_part_len: CK_ULONG, p_encrypted_part: *mut CK_BYTE, pul_encrypted_part_len: *mut CK_ULONG));
not_supported!(C_DecryptDigestUpdate, CKR_FUNCTION_NOT_SUPPORTED, (p_encrypted_part: *mut CK_BYTE, ul_encrypted_part_len: CK_ULONG, p_part: *mut CK_BYTE, pul_part_len: *mut CK_ULONG));
not_supported!(C_SignEncryptUpdate, CKR_FUNCTION_NOT_SUPPORTED, (p_part: *mut CK_BYTE, ul_part_len: CK_ULONG, p_encrypted_part: *mut CK_BYTE, pul_encrypted_part_len: *mut CK_ULONG));
not_supported!(C_DecryptVerifyUpdate, CKR_FUNCTION_NOT_SUPPORTED, (p_encrypted_part: *mut CK_BYTE, ul_encrypted_part_len: CK_ULONG, p_part: *mut CK_BYTE, pul_part_len: *mut CK_ULONG));
not_supported!(C_GenerateKey, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, p_template: *mut CK_ATTRIBUTE, ul_count: CK_ULONG, ph_key: *mut CK_OBJECT_HANDLE));
not_supported!(C_GenerateKeyPair, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, p_public_key_template: *mut CK_ATTRIBUTE, ul_public_key_attribute_count: CK_ULONG, p_private_key_template: *mut CK_ATTRIBUTE, ul_private_key_attribute_count: CK_ULONG, ph_public_key: *mut CK_OBJECT_HANDLE, ph_private_key: *mut CK_OBJECT_HANDLE));
not_supported!(C_WrapKey, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_wrapping_key: CK_OBJECT_HANDLE, h_key: CK_OBJECT_HANDLE, p_wrapped_key: *mut CK_BYTE, pul_wrapped_key_len: *mut CK_ULONG));
not_supported!(C_UnwrapKey, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_unwrapping_key: CK_OBJECT_HANDLE, p_wrapped_key: *mut CK_BYTE, ul_wrapped_key_len: CK_ULONG, p_template: *mut CK_ATTRIBUTE, ul_attribute_count: CK_ULONG, ph_key: *mut CK_OBJECT_HANDLE));
not_supported!(C_DeriveKey, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_base_key: CK_OBJECT_HANDLE, p_template: *mut CK_ATTRIBUTE, ul_attribute_count: CK_ULONG, ph_key: *mut CK_OBJECT_HANDLE));
not_supported!(C_GetFunctionStatus, CKR_FUNCTION_NOT_PARALLEL, ());
not_supported!(C_CancelFunction, CKR_FUNCTION_NOT_PARALLEL, ());
not_supported!(C_MessageEncryptInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_EncryptMessage, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_associated_data: *mut CK_BYTE, ul_associated_data_len: CK_ULONG, p_plaintext: *mut CK_BYTE, ul_plaintext_len: CK_ULONG, p_ciphertext: *mut CK_BYTE, pul_ciphertext_len: *mut CK_ULONG));
not_supported!(C_EncryptMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_associated_data: *mut CK_BYTE, ul_associated_data_len: CK_ULONG));
not_supported!(C_EncryptMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_plaintext_part: *mut CK_BYTE, ul_plaintext_part_len: CK_ULONG, p_ciphertext_part: *mut CK_BYTE, pul_ciphertext_part_len: *mut CK_ULONG, flags: CK_FLAGS));
not_supported!(C_MessageEncryptFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
not_supported!(C_MessageDecryptInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_DecryptMessage, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_associated_data: *mut CK_BYTE, ul_associated_data_len: CK_ULONG, p_ciphertext: *mut CK_BYTE, ul_ciphertext_len: CK_ULONG, p_plaintext: *mut CK_BYTE, pul_plaintext_len: *mut CK_ULONG));
not_supported!(C_DecryptMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_associated_data: *mut CK_BYTE, ul_associated_data_len: CK_ULONG));
not_supported!(C_DecryptMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_ciphertext_part: *mut CK_BYTE, ul_ciphertext_part_len: CK_ULONG, p_plaintext_part: *mut CK_BYTE, pul_plaintext_part_len: *mut CK_ULONG, flags: CK_FLAGS));
not_supported!(C_MessageDecryptFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
not_supported!(C_MessageSignInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_SignMessage, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_data: *mut CK_BYTE, ul_data_len: CK_ULONG, p_signature: *mut CK_BYTE, pul_signature_len: *mut CK_ULONG));
not_supported!(C_SignMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG));
not_supported!(C_SignMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_data: *mut CK_BYTE, ul_data_len: CK_ULONG, p_signature: *mut CK_BYTE, pul_signature_len: *mut CK_ULONG));
not_supported!(C_MessageSignFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
not_supported!(C_MessageVerifyInit, CKR_FUNCTION_NOT_SUPPORTED, (p_mechanism: *mut CK_MECHANISM, h_key: CK_OBJECT_HANDLE));
not_supported!(C_VerifyMessage, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_data: *mut CK_BYTE, ul_data_len: CK_ULONG, p_signature: *mut CK_BYTE, ul_signature_len: CK_ULONG));
not_supported!(C_VerifyMessageBegin, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG));
not_supported!(C_VerifyMessageNext, CKR_FUNCTION_NOT_SUPPORTED, (p_parameter: *mut c_void, ul_parameter_len: CK_ULONG, p_data: *mut CK_BYTE, ul_data_len: CK_ULONG, p_signature: *mut CK_BYTE, ul_signature_len: CK_ULONG));
not_supported!(C_MessageVerifyFinal, CKR_FUNCTION_NOT_SUPPORTED, ());
