//! APDU encoding/decoding (ISO 7816-4 short and extended), status words.
