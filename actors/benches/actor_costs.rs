//! What an actor start and a message hop cost on this machine, the figures behind the
//! choice of which actors live per connection and which per request.
//!
//! Run: `cargo bench -p weir-actors --bench actor_costs`. Prints ns per operation for:
//! starting (and stopping) an actor; a request/reply hop through an actor's mailbox; a
//! `try_send` plus a oneshot reply (what weir's transport does per chunk).

use std::time::Instant;

use actix::prelude::*;
use futures::channel::oneshot;

struct Echo;

impl Actor for Echo {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Ping(u64);

impl Handler<Ping> for Echo {
    type Result = u64;
    fn handle(&mut self, m: Ping, _: &mut Context<Self>) -> u64 {
        m.0 + 1
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Ask(u64, oneshot::Sender<u64>);

impl Handler<Ask> for Echo {
    type Result = ();
    fn handle(&mut self, m: Ask, _: &mut Context<Self>) {
        let _ = m.1.send(m.0 + 1);
    }
}

struct Once;

impl Actor for Once {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

fn report(what: &str, n: u64, t: Instant) {
    println!(
        "{what:<44} {:>8.0} ns/op",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}

fn main() {
    let sys = System::new();
    sys.block_on(async {
        const N: u64 = 200_000;
        let t = Instant::now();
        for _ in 0..N {
            let _ = Once.start();
        }
        // Let them all run their start and stop.
        actix_rt::task::yield_now().await;
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
        report("actor start + stop (incl. 10 ms settle)", N, t);

        let addr = Echo.start();
        let t = Instant::now();
        let mut x = 0;
        for _ in 0..N {
            x = addr.send(Ping(x)).await.unwrap();
        }
        report("Addr::send request/reply hop", N, t);

        let t = Instant::now();
        for _ in 0..N {
            let (tx, rx) = oneshot::channel();
            addr.try_send(Ask(x, tx)).unwrap();
            x = rx.await.unwrap();
        }
        report("try_send + oneshot reply (weir's per-chunk hop)", N, t);
        assert_eq!(x, 2 * N);
    });
}
