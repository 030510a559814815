//! A small HTTP/1.1 server for the live outputs, polled by the main thread on each of its
//! ticks: non-blocking sockets and no thread of its own, so a slow or stalled client never
//! delays the run's beat, and nothing of it runs on the cores. One request per connection
//! (`Connection: close`): its clients are a scraper once a second and a page polling once a
//! second.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Clients served at once; a new one past this closes the oldest.
const MAX_CLIENTS: usize = 64;
/// A request head larger than this is refused.
const MAX_HEAD: usize = 16 * 1024;
/// A client that has not been answered and gone within this is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Server {
    listener: TcpListener,
    clients: Vec<Client>,
}

struct Client {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    since: Instant,
}

/// What a client asked for.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path, without its query.
    pub path: &'a str,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type,
            body,
        }
    }

    pub fn not_found() -> Response {
        Response {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: b"not found\n".to_vec(),
        }
    }
}

impl Server {
    /// Listens on `addr` (the caller names the flag in its error).
    pub fn bind(addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            clients: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts who is waiting, reads what came, answers each complete request with
    /// `answer`, writes what the sockets take, and drops who is done or too slow. Never
    /// blocks.
    pub fn poll(&mut self, answer: &mut dyn FnMut(&Request) -> Response) {
        self.accept();
        let now = Instant::now();
        self.clients.retain_mut(|client| {
            client.step(answer).unwrap_or(false)
                && now.duration_since(client.since) < CLIENT_TIMEOUT
        });
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.clients.len() == MAX_CLIENTS {
                self.clients.remove(0);
            }
            self.clients.push(Client {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                since: Instant::now(),
            });
        }
    }
}

impl Client {
    /// Moves this client on; `Ok(false)` once it is done with.
    fn step(&mut self, answer: &mut dyn FnMut(&Request) -> Response) -> io::Result<bool> {
        if self.output.is_empty() {
            return self.read(answer);
        }
        if self.written == self.output.len() {
            // Answered and shut for writing: wait for the client to close, so that what it
            // still sends is read, not answered with a reset that could cost it the answer.
            return self.discard();
        }
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        // The end of the stream is the end of the body too.
        self.stream.shutdown(Shutdown::Write)?;
        self.discard()
    }

    /// Reads and drops what the client still sends; `Ok(false)` once it has closed.
    fn discard(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads what came and, once the request head is complete, prepares the answer;
    /// `Ok(false)`: the client went away.
    fn read(&mut self, answer: &mut dyn FnMut(&Request) -> Response) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        let response = match parsed.parse(&self.input) {
            Ok(httparse::Status::Complete(_)) => {
                let path = parsed.path.unwrap_or("/");
                answer(&Request {
                    method: parsed.method.unwrap_or("GET"),
                    path: path.split('?').next().unwrap_or(path),
                })
            }
            Ok(httparse::Status::Partial) if self.input.len() <= MAX_HEAD => return Ok(true),
            _ => Response {
                status: 400,
                content_type: "text/plain; charset=utf-8",
                body: b"bad request\n".to_vec(),
            },
        };
        self.output = head(&response);
        self.output.extend_from_slice(&response.body);
        self.step(answer)
    }
}

fn head(response: &Response) -> Vec<u8> {
    let reason = match response.status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_a_request_split_across_reads_and_closes() {
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .write_all(b"GET /metrics?x=1 HTTP/1.1\r\nHo")
            .unwrap();
        let seen = std::cell::RefCell::new(Vec::new());
        let mut answer = |r: &Request| {
            seen.borrow_mut().push(format!("{} {}", r.method, r.path));
            Response::ok("text/plain", b"hello".to_vec())
        };
        for _ in 0..20 {
            server.poll(&mut answer);
            std::thread::sleep(Duration::from_millis(5));
        }
        client.write_all(b"st: x\r\n\r\n").unwrap();
        for _ in 0..20 {
            server.poll(&mut answer);
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut text = String::new();
        client.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nhello"), "{text}");
        assert_eq!(*seen.borrow(), ["GET /metrics"]);
        // Answered and shut; it waits for the client to close, then lets it go.
        assert_eq!(server.clients.len(), 1);
        drop(client);
        for _ in 0..20 {
            server.poll(&mut answer);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(server.clients.is_empty());
    }
}
