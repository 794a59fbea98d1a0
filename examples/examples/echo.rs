//! A TCP echo server and its clients in one program.
//!
//! ```text
//! cargo run --release -p examples --example echo -- --mode parallel
//! cargo run --release -p examples --example echo -- --mode single --clients 50 --messages 2000
//! ```
//!
//! The server accepts on 127.0.0.1 (an OS-chosen port) and spawns one task
//! per connection that copies everything it reads back. Each client task
//! connects, splits its stream, writes its messages from one task while it
//! reads and checks the echo in another, then reports. The program prints the
//! echo throughput and exits non-zero if any byte came back wrong.
//!
//! The same code runs in either mode; `--mode` only picks the runtime.

use std::process::ExitCode;
use std::time::Instant;

use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream};
use spindle::{Builder, Mode, spawn};

/// Command-line options.
struct Options {
    mode: Mode,
    clients: usize,
    messages: usize,
    size: usize,
}

const USAGE: &str =
    "usage: echo [--mode single|parallel] [--clients N] [--messages N] [--size BYTES]";

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        mode: Mode::Parallel,
        clients: 100,
        messages: 1_000,
        size: 64,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--mode" => {
                options.mode = match value.as_str() {
                    "single" => Mode::SingleThread,
                    "parallel" => Mode::Parallel,
                    other => return Err(format!("unknown mode {other:?}")),
                }
            }
            "--clients" => options.clients = number()?,
            "--messages" => options.messages = number()?,
            "--size" => options.size = number()?.max(1),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(options)
}

/// Byte `i` of message `m` from client `c`.
fn byte(c: usize, m: usize, i: usize) -> u8 {
    (c.wrapping_mul(31) ^ m.wrapping_mul(17) ^ i) as u8
}

/// Flattens a task's `JoinError` (a panic or cancellation) into its IO result.
fn joined<T>(result: Result<std::io::Result<T>, spindle::JoinError>) -> std::io::Result<T> {
    result.map_err(|e| std::io::Error::other(e.to_string()))?
}

/// Echoes every connection until the listener has served `connections`.
async fn serve(listener: TcpListener, connections: usize) -> std::io::Result<()> {
    for _ in 0..connections {
        let (stream, _peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        spawn(async move {
            let (mut rd, mut wr) = stream.into_split();
            if let Err(e) = spindle::io::copy(&mut rd, &mut wr).await {
                eprintln!("echo: connection failed: {e}");
            }
        });
    }
    Ok(())
}

/// One client: sends `messages` messages of `size` bytes and checks the echo.
async fn client(
    addr: std::net::SocketAddr,
    c: usize,
    messages: usize,
    size: usize,
) -> std::io::Result<bool> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = spawn(async move {
        let mut buf = vec![0; size];
        for m in 0..messages {
            buf.iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = byte(c, m, i));
            wr.write_all(&buf).await?;
        }
        wr.close().await
    });
    let mut buf = vec![0; size];
    let mut intact = true;
    for m in 0..messages {
        rd.read_exact(&mut buf).await?;
        intact &= buf.iter().enumerate().all(|(i, &b)| b == byte(c, m, i));
    }
    joined(writer.await)?;
    Ok(intact)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("echo: {e}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = Builder::new(options.mode)
        .thread_name("echo")
        .build()
        .expect("build the runtime");
    let Options {
        mode,
        clients,
        messages,
        size,
    } = options;
    let result = runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = spawn(serve(listener, clients));
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| spawn(client(addr, c, messages, size)))
            .collect();
        let mut intact = true;
        for task in tasks {
            intact &= joined(task.await)?;
        }
        let took = start.elapsed();
        joined(server.await)?;
        Ok::<_, std::io::Error>((intact, took))
    });
    match result {
        Ok((intact, took)) => {
            let echoed = clients * messages;
            println!(
                "{mode:?}: {clients} clients x {messages} messages of {size} B echoed in {took:.2?} \
                 ({:.0} messages/s, pipelined, {:.1} MiB/s each way){}",
                echoed as f64 / took.as_secs_f64(),
                (echoed * size) as f64 / took.as_secs_f64() / (1024.0 * 1024.0),
                if intact { "" } else { " -- CORRUPTED ECHO" },
            );
            if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}
