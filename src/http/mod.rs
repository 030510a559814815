//! HTTP/1.1 on the request path: the request bytes serialized once before the run (a
//! `--form`'s multipart body encoded with them), the
//! response framer (httparse, chunked bodies) and the per-core memory of recent heads.

pub mod chunked;
pub mod form;
pub mod recall;
pub mod request;
pub mod response;
pub mod template;
