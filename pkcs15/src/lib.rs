//! ISO/IEC 7816-15 (PKCS#15) structures: DER encoding (software card personalisation)
//! and lenient decoding (the module). To be filled in.
