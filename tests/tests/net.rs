//! Sockets on the full runtime, every case in both modes.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use spindle::spawn;
use tests::both_modes;

/// The payload of message `m` of connection `c`: 1 to 128 bytes, each
/// byte a function of (c, m, position), so any lost, duplicated or
/// reordered byte is caught.
fn message(c: usize, m: usize) -> Vec<u8> {
    let len = 1 + (c * 7 + m * 13) % 128;
    (0..len).map(|i| (c * 31 + m * 17 + i * 3) as u8).collect()
}

#[test]
fn hundred_connections_echo_a_thousand_messages_each() {
    const CONNECTIONS: usize = 100;
    const MESSAGES: usize = 1_000;
    both_modes(|mode| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let mut echoers = Vec::new();
            for _ in 0..CONNECTIONS {
                let (stream, _) = listener.accept().await.unwrap();
                echoers.push(spawn(async move {
                    let (mut rd, mut wr) = stream.into_split();
                    spindle::io::copy(&mut rd, &mut wr).await.unwrap()
                }));
            }
            let mut echoed = 0;
            for e in echoers {
                echoed += e.await.unwrap();
            }
            echoed
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    let (mut rd, mut wr) = stream.into_split();
                    let writer = spawn(async move {
                        for m in 0..MESSAGES {
                            wr.write_all(&message(c, m)).await.unwrap();
                        }
                        wr.close().await.unwrap();
                    });
                    for m in 0..MESSAGES {
                        let expected = message(c, m);
                        let mut got = vec![0; expected.len()];
                        rd.read_exact(&mut got).await.unwrap();
                        assert_eq!(got, expected, "{mode:?}: connection {c}, message {m}");
                    }
                    assert_eq!(rd.read(&mut [0; 1]).await.unwrap(), 0, "EOF after the echo");
                    writer.await.unwrap();
                    (0..MESSAGES)
                        .map(|m| message(c, m).len() as u64)
                        .sum::<u64>()
                })
            })
            .collect();
        let mut sent = 0;
        for client in clients {
            sent += client.await.unwrap();
        }
        assert_eq!(server.await.unwrap(), sent);
    });
}

#[test]
fn half_close_delivers_eof_and_the_reply_still_arrives() {
    both_modes(|_| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"all of the request").await.unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            reply
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        stream.read_to_end(&mut request).await.unwrap();
        assert_eq!(request, b"all of the request");
        stream.write_all(b"the reply").await.unwrap();
        stream.close().await.unwrap();
        assert_eq!(client.await.unwrap(), "the reply");
    });
}

#[test]
fn connect_to_a_closed_port_errors() {
    both_modes(|_| async {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = TcpStream::connect(closed).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn binding_an_address_in_use_errors() {
    both_modes(|_| async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = TcpListener::bind(first.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn udp_round_trip() {
    both_modes(|_| async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = spawn(async move {
            let mut buf = [0; 1500];
            for _ in 0..10 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(server_addr).await.unwrap();
        let mut buf = [0; 1500];
        for i in 0..10u8 {
            let datagram = vec![i; 100 + i as usize];
            client.send(&datagram).await.unwrap();
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &datagram[..]);
        }
        echo.await.unwrap();
    });
}

fn socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("spindle-tests-{}-{n}.sock", std::process::id()))
}

#[test]
fn unix_socket_round_trip() {
    both_modes(|_| async {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let server = spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                stream.write_all(&buf[..n]).await.unwrap();
            }
        });
        let mut client = UnixStream::connect(&path).await.unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(1000) {
            client.write_all(chunk).await.unwrap();
            let mut back = vec![0; chunk.len()];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back, chunk);
        }
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(client.read(&mut [0; 1]).await.unwrap(), 0);
        server.await.unwrap();
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn a_socket_that_is_always_ready_still_yields_to_other_tasks() {
    both_modes(|mode| async move {
        const BYTES: usize = 50_000;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        server.write_all(&[7; BYTES]).await.unwrap();
        // Every one-byte read succeeds at once: only the cooperative budget
        // can make this loop give its thread back.
        let other_ran = Arc::new(AtomicBool::new(false));
        let hot = {
            let other_ran = other_ran.clone();
            spawn(async move {
                let mut byte = [0; 1];
                for _ in 0..BYTES {
                    client.read_exact(&mut byte).await.unwrap();
                    if other_ran.load(Ordering::SeqCst) {
                        return true;
                    }
                }
                false
            })
        };
        let flag = other_ran.clone();
        spawn(async move { flag.store(true, Ordering::SeqCst) });
        assert!(
            hot.await.unwrap(),
            "{mode:?}: the reading task never yielded"
        );
        drop(server);
    });
}
