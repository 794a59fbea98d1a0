//! Specification tests for the sockets, each on a real reactor thread with
//! the peers on different OS threads (so every wake crosses threads).

use std::io::ErrorKind;
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::test_util::{block_on, run, spawn_thread};
use crate::{Reactor, ReactorHandle};

/// A fresh socket path in the temp dir.
fn socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("spindle-reactor-{}-{n}.sock", std::process::id()))
}

/// The byte at position `i` of client `c`'s stream.
fn pattern(c: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ c.wrapping_mul(7)) as u8
}

#[test]
fn tcp_echo_round_trip_checks_every_byte() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        const CLIENTS: usize = 8;
        const LEN: usize = 256 * 1024;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                spawn_thread(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    assert!(stream.nodelay().unwrap());
                    assert_eq!(stream.peer_addr().unwrap(), addr);
                    let (mut rd, mut wr) = stream.into_split();
                    let writer = spawn_thread(async move {
                        let data: Vec<u8> = (0..LEN).map(|i| pattern(c, i)).collect();
                        wr.write_all(&data).await.unwrap();
                    });
                    let mut back = vec![0; LEN];
                    rd.read_exact(&mut back).await.unwrap();
                    writer.join().unwrap();
                    assert!(back.iter().enumerate().all(|(i, &b)| b == pattern(c, i)));
                })
            })
            .collect();
        let mut servers = Vec::new();
        for _ in 0..CLIENTS {
            let (stream, peer) = listener.accept().await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), peer);
            servers.push(spawn_thread(async move {
                let (mut rd, mut wr) = stream.into_split();
                futures_util::io::copy(&mut rd, &mut wr).await.unwrap();
            }));
        }
        clients.into_iter().for_each(|c| c.join().unwrap());
        servers.into_iter().for_each(|s| s.join().unwrap());
        assert_eq!(
            ReactorHandle::try_current().unwrap().live_registrations(),
            1
        );
    });
}

#[test]
fn half_close_delivers_eof_and_the_other_direction_keeps_working() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = spawn_thread(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"question").await.unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut question = Vec::new();
        stream.read_to_end(&mut question).await.unwrap();
        assert_eq!(question, b"question");
        assert_eq!(stream.read(&mut [0; 8]).await.unwrap(), 0, "EOF stays EOF");
        stream.write_all(b"answer").await.unwrap();
        stream.close().await.unwrap();
        assert_eq!(client.join().unwrap(), "answer");
    });
}

/// A read that fills its buffer turns `TCP_INQ` on (see `inq`); from then
/// on a read that drains the socket clears the read readiness, so the next
/// read waits instead of hearing `EAGAIN`, and a FIN queued behind the data
/// still reaches the reader.
#[cfg(target_os = "linux")]
#[test]
fn exact_reads_learn_when_they_drain_the_socket() {
    use std::io::Write;
    use std::time::Duration;

    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        assert!(!server.read_state().0, "off until a read fills its buffer");
        client.write_all(&[1; 16]).unwrap();
        let mut buf = [0; 8];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(
            server.read_state(),
            (true, true),
            "on; 8 bytes still queued"
        );
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(
            server.read_state(),
            (true, false),
            "drained: readiness cleared"
        );
        client.write_all(&[2; 8]).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, [2; 8]);
        let eof = crate::time::timeout(Duration::from_secs(10), server.read(&mut buf)).await;
        assert_eq!(eof.expect("EOF behind the data").unwrap(), 0);
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    run(async {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = TcpStream::connect(port).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(
            ReactorHandle::try_current().unwrap().live_registrations(),
            0
        );
    });
}

#[test]
fn binding_a_used_address_fails_with_addr_in_use() {
    run(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = TcpListener::bind(first.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        let unresolvable: &[std::net::SocketAddr] = &[];
        let err = TcpListener::bind(unresolvable).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn udp_round_trip_connected_and_unconnected() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let echo = spawn_thread(async move {
            let mut buf = [0; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            b.send_to(&buf[..n], from).await.unwrap();
            b.connect(a_addr).await.unwrap();
            let n = b.recv(&mut buf).await.unwrap();
            b.send(&buf[..n]).await.unwrap();
        });
        let mut buf = [0; 64];
        a.send_to(b"ping", b_addr).await.unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], b_addr));
        a.connect(b_addr).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        a.send(b"pong").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
        echo.join().unwrap();
    });
}

#[test]
fn unix_round_trip_and_pair() {
    run(async {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let client = {
            let path = path.clone();
            spawn_thread(async move {
                let mut stream = UnixStream::connect(&path).await.unwrap();
                stream.write_all(b"over unix").await.unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                stream.read_to_end(&mut back).await.unwrap();
                back
            })
        };
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        stream.write_all(&got).await.unwrap();
        stream.close().await.unwrap();
        assert_eq!(client.join().unwrap(), b"over unix");
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        std::fs::remove_file(&path).unwrap();

        let (x, mut y) = UnixStream::pair().unwrap();
        let (mut x_rd, mut x_wr) = x.into_split();
        x_wr.write_all(b"pair").await.unwrap();
        drop(x_wr);
        let mut buf = Vec::new();
        y.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"pair", "dropping the write half sent EOF");
        y.write_all(b"back").await.unwrap();
        let mut back = [0; 4];
        x_rd.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"back");
        let missing = UnixStream::connect(socket_path()).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn sockets_fail_cleanly_after_shutdown() {
    let reactor = Reactor::start("net-shutdown").unwrap();
    let _guard = reactor.handle().enter();
    let (listener, mut stream, _server) = block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (listener, stream, server)
    });
    let reader = {
        let handle = reactor.handle();
        let listener = listener;
        std::thread::spawn(move || {
            let _guard = handle.enter();
            block_on(async move { listener.accept().await.map(|_| ()) })
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(20));
    reactor.shutdown();
    let err = reader.join().unwrap().unwrap_err();
    assert!(err.to_string().contains("shut down"), "{err}");
    block_on(async {
        let err = stream.read(&mut [0; 4]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(stream.write_all(b"x").await.is_err());
        let err = TcpListener::bind("127.0.0.1:0").await.unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
    });
    drop(stream);
}

#[test]
fn sockets_outside_a_runtime_panic_naming_the_fix() {
    let err = std::panic::catch_unwind(|| block_on(TcpListener::bind("127.0.0.1:0"))).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("inside a spindle runtime"), "{msg}");
    assert!(msg.contains("Runtime::block_on or spindle::run"), "{msg}");
}

#[test]
fn concurrent_accepts_on_one_listener_all_complete() {
    run(async {
        let listener = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..3)
            .map(|_| {
                let listener = listener.clone();
                spawn_thread(async move { listener.accept().await.map(|(s, _)| s) })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        for acceptor in acceptors {
            acceptor.join().unwrap().unwrap();
        }
    });
}

#[test]
fn std_sockets_can_be_adopted() {
    run(async {
        let listener =
            TcpListener::from_std(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::from_std(std::net::TcpStream::connect(addr).unwrap()).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"adopted").await.unwrap();
        let mut buf = [0; 7];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"adopted");
        let udp = UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        udp.send_to(b"self", udp.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(udp.recv(&mut buf).await.unwrap(), 4);
    });
}
