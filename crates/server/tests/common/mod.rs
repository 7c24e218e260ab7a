//! A RESP client for the server's integration tests: commands in, decoded frames out,
//! over a real TCP connection. Each test file uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use lockstep_resp::{encode_command, Decoder, Frame};
use lockstep_server::{EmbeddedServer, ServerConfig};

/// How long a reply may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server on a free port.
pub fn start() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig::ephemeral()).expect("server starts")
}

pub struct Conn {
    pub stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::default(),
        }
    }

    /// This side's address, as the server sees the client.
    pub fn local_addr(&self) -> String {
        self.stream.local_addr().expect("local addr").to_string()
    }

    /// Sends a command without waiting for its reply.
    pub fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_bytes(&args);
    }

    pub fn send_bytes(&mut self, args: &[&[u8]]) {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out).expect("send");
    }

    pub fn command(&mut self, args: &[&str]) -> Frame {
        self.send(args);
        self.read()
    }

    pub fn command_bytes(&mut self, args: &[&[u8]]) -> Frame {
        self.send_bytes(args);
        self.read()
    }

    /// The next reply.
    pub fn read(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("valid RESP") {
                return frame;
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("server closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading a reply: {e}"),
            }
        }
    }

    /// True when no reply arrives within `wait`.
    pub fn silent_for(&mut self, wait: Duration) -> bool {
        if self
            .decoder
            .decode(&mut self.buf)
            .expect("valid RESP")
            .is_some()
        {
            return false;
        }
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut chunk = [0u8; 4096];
        let silent = match self.stream.read(&mut chunk) {
            Ok(0) => panic!("server closed the connection"),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(_) => true,
        };
        self.stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("timeout");
        silent
    }

    pub fn ok(&mut self, args: &[&str]) {
        assert_eq!(self.command(args), Frame::simple("OK"), "{args:?}");
    }

    pub fn int(&mut self, args: &[&str]) -> i64 {
        match self.command(args) {
            Frame::Integer(n) => n,
            other => panic!("{args:?}: expected an integer, got {other:?}"),
        }
    }

    pub fn text(&mut self, args: &[&str]) -> String {
        match self.command(args) {
            Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => {
                String::from_utf8_lossy(&b).into_owned()
            }
            other => panic!("{args:?}: expected text, got {other:?}"),
        }
    }
}
