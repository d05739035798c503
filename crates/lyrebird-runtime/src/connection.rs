//! Connections a mock call can break: the `close` and `reset` faults end the connection a call
//! came on without an answer (docs/testing-with-lyrebird.md, "Faults").
//!
//! The server accepts connections through [`Connections`], which wraps each stream in a
//! [`Stream`] sharing a [`Breaker`] with the connection's service. A call that must not be
//! answered trips the breaker and yields without answering. Hyper polls a call on the
//! connection's own task, and on each turn of that task first reads the connection (to notice a
//! client that went away while a request is in flight): that read now fails, and hyper drops the
//! connection, the call with it. A reset sets `SO_LINGER` to zero first, so the close sends a RST
//! instead of a FIN. The only cost to every other call is one atomic load per read and write.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A listener whose connections mock calls can break.
#[derive(Debug)]
pub struct Connections(pub TcpListener);

impl axum::serve::Listener for Connections {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Stream, SocketAddr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.0).await;
        let stream = Stream {
            stream,
            breaker: Breaker::default(),
        };
        (stream, address)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// How a tripped connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// A FIN: the client reads the end of the stream.
    Close = 1,
    /// A RST: the client reads "connection reset".
    Reset = 2,
}

/// The switch a call flips to end its connection without an answer. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Breaker(Arc<AtomicU8>);

impl Breaker {
    /// Ends the connection as `how` says, at the next turn of its task: the caller must then
    /// yield without answering, so that nothing is written before the connection ends.
    pub fn trip(&self, how: Break) {
        self.0.store(how as u8, Ordering::Release);
    }

    /// 0 until tripped, then a [`Break`].
    fn tripped(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }
}

/// A connection's stream and its breaker.
#[derive(Debug)]
pub struct Stream {
    stream: TcpStream,
    breaker: Breaker,
}

impl Stream {
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fn broken(&self) -> io::Result<()> {
        match self.breaker.tripped() {
            0 => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "a fault ended the connection",
            )),
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.breaker.tripped() == Break::Reset as u8 {
            // Closing with a zero linger sends RST; on failure the close is an ordinary one.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.broken()?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.broken()?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.broken()?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
