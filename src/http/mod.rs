//! HTTP/1.1 on the request path: the request bytes serialized once before the run, the
//! response framer (httparse, chunked bodies) and the per-core memory of recent heads.

pub mod chunked;
pub mod recall;
pub mod request;
pub mod response;
