//! Init's captured stdout/stderr: only shown when init fails, so a write must never fail
//! (a Rust guest panics when println! fails) and memory must stay bounded: the pipe keeps the
//! last bytes written and drops older ones.
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Clone)]
pub struct TailPipe {
    limit: usize,
    tail: Arc<Mutex<VecDeque<u8>>>,
}

impl TailPipe {
    pub fn new(limit: usize) -> TailPipe {
        TailPipe { limit, tail: Arc::new(Mutex::new(VecDeque::new())) }
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.tail.lock().expect("no panics while holding the lock");
        let keep = &bytes[bytes.len().saturating_sub(self.limit)..];
        let overflow = ((tail.len() + keep.len()).saturating_sub(self.limit)).min(tail.len());
        tail.drain(..overflow);
        tail.extend(keep);
    }

    /// The last bytes written, as text.
    pub fn contents(&self) -> String {
        let tail = self.tail.lock().expect("no panics while holding the lock");
        String::from_utf8_lossy(&tail.iter().copied().collect::<Vec<u8>>()).into_owned()
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TailPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for TailPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(self.limit.max(4096))
    }
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_tail() {
        let pipe = TailPipe::new(8);
        pipe.push(b"hello ");
        pipe.push(b"world!");
        assert_eq!(pipe.contents(), "o world!");
        pipe.push(b"0123456789abcdef");
        assert_eq!(pipe.contents(), "89abcdef");
    }
}
