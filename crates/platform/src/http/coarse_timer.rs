//! Timers for the event loops' hot path, at the grain of a [`TICK`].
//!
//! Every proxied request arms two timers: hyper's header-read timeout for the
//! next request on its connection (slowloris), and the upstream exchange's
//! timeout. Nearly all are cancelled long before they would fire, and as
//! tokio timers (each registered in the runtime's wheel, removed, the clock
//! read for both) they cost more than they do here (docs/performance.md,
//! "Coarse timers"). Here a timer is an entry
//! in its event loop's slab, a deadline and a waker, added when it is first
//! polled and removed when it is dropped. One sweeper per loop wakes the
//! timers that are past their deadline, once a tick, and only while there are
//! timers.
//!
//! Only the event loops of [`crate::http::server`] keep such a slab
//! ([`enable_on_this_thread`]): their tasks never move between threads. On
//! any other thread a [`Sleep`] is a tokio timer. A timer armed on one loop
//! and polled on another thread (a future moved to another runtime) is
//! noticed by its id, which names its thread, and becomes a tokio timer for
//! the same deadline: moved, it is late by nothing and early never.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the sweeper looks, and so how late at most a timer fires.
pub const TICK: Duration = Duration::from_millis(25);

struct Entry {
    deadline: Instant,
    waker: Waker,
    /// Unique across threads: an entry is only ever taken for its own timer,
    /// even after its slot is reused.
    id: u64,
}

struct Timers {
    entries: slab::Slab<Entry>,
    /// The sweeper, parked while there is nothing to watch.
    sweeper: Option<Waker>,
    /// The next entry's id: this thread's number in the top 16 bits, a count
    /// below (no counter shared between the loops' cores).
    next_id: u64,
}

thread_local! {
    /// Present on event-loop threads only.
    static TIMERS: RefCell<Option<Timers>> = const { RefCell::new(None) };
}

static THREADS: AtomicU64 = AtomicU64::new(0);

/// Makes this thread keep coarse timers; its runtime must run [`sweep`].
/// For threads whose tasks all stay on them (a current-thread runtime).
pub fn enable_on_this_thread() {
    let thread = THREADS.fetch_add(1, Ordering::Relaxed);
    TIMERS.with(|timers| {
        *timers.borrow_mut() = Some(Timers {
            entries: slab::Slab::new(),
            sweeper: None,
            next_id: thread << 48,
        });
    });
}

/// Wakes the timers past their deadline, once a tick while there are any.
/// Runs until dropped (with its event loop).
pub async fn sweep() {
    let mut expired = Vec::new();
    loop {
        std::future::poll_fn(|cx| {
            TIMERS.with(|timers| match timers.borrow_mut().as_mut() {
                Some(timers) if timers.entries.is_empty() => {
                    timers.sweeper = Some(cx.waker().clone());
                    Poll::Pending
                }
                Some(_) => Poll::Ready(()),
                // Not an event loop: nothing is ever armed here.
                None => Poll::Pending,
            })
        })
        .await;
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        TIMERS.with(|timers| {
            if let Some(timers) = timers.borrow_mut().as_mut() {
                timers.entries.retain(|_, entry| {
                    let due = entry.deadline <= now;
                    if due {
                        expired.push(entry.waker.clone());
                    }
                    !due
                });
            }
        });
        // Woken outside the borrow: a waker may run code that arms a timer.
        expired.drain(..).for_each(Waker::wake);
    }
}

/// A timer that completes at its deadline (up to a [`TICK`] later on an
/// event loop).
pub struct Sleep {
    deadline: Instant,
    state: State,
}

enum State {
    /// Not polled yet.
    Unarmed,
    /// In this thread's slab, at `key`.
    Armed {
        key: usize,
        id: u64,
    },
    /// Not on an event loop.
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Done,
}

impl Sleep {
    pub fn until(deadline: Instant) -> Self {
        Self {
            deadline,
            state: State::Unarmed,
        }
    }

    pub fn after(duration: Duration) -> Self {
        Self::until(Instant::now() + duration)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        match &mut self.state {
            State::Unarmed => {
                let armed = TIMERS.with(|timers| {
                    let mut timers = timers.borrow_mut();
                    let timers = timers.as_mut()?;
                    let id = timers.next_id;
                    timers.next_id += 1;
                    let key = timers.entries.insert(Entry {
                        deadline,
                        waker: cx.waker().clone(),
                        id,
                    });
                    if let Some(sweeper) = timers.sweeper.take() {
                        sweeper.wake();
                    }
                    Some(State::Armed { key, id })
                });
                self.state = armed.unwrap_or_else(|| {
                    State::Tokio(Box::pin(tokio::time::sleep_until(deadline.into())))
                });
                // A tokio timer registers its waker when polled.
                match &mut self.state {
                    State::Tokio(sleep) => sleep.as_mut().poll(cx),
                    _ => Poll::Pending,
                }
            }
            State::Armed { key, id } => {
                let (key, id) = (*key, *id);
                let here = TIMERS.with(|timers| {
                    let mut timers = timers.borrow_mut();
                    match timers.as_mut() {
                        Some(timers) if same_thread(timers.next_id, id) => {
                            match timers.entries.get_mut(key) {
                                Some(entry) if entry.id == id => {
                                    if !entry.waker.will_wake(cx.waker()) {
                                        entry.waker = cx.waker().clone();
                                    }
                                    Armed::Pending
                                }
                                // Swept: the deadline has passed.
                                _ => Armed::Swept,
                            }
                        }
                        _ => Armed::Moved,
                    }
                });
                match here {
                    Armed::Pending => Poll::Pending,
                    Armed::Swept => {
                        self.state = State::Done;
                        Poll::Ready(())
                    }
                    Armed::Moved => {
                        // Its entry stays behind, to be swept at the deadline.
                        let mut sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
                        let polled = sleep.as_mut().poll(cx);
                        self.state = State::Tokio(sleep);
                        polled
                    }
                }
            }
            State::Tokio(sleep) => sleep.as_mut().poll(cx),
            State::Done => Poll::Ready(()),
        }
    }
}

/// Where an armed timer's entry is, seen from the thread polling it.
enum Armed {
    Pending,
    Swept,
    /// Polled on another thread than the one it was armed on.
    Moved,
}

/// Whether two ids were made on the same thread (its number is their top 16 bits).
fn same_thread(a: u64, b: u64) -> bool {
    a >> 48 == b >> 48
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Armed { key, id } = self.state {
            // Not during the thread's teardown, and never another timer's entry.
            let _ = TIMERS.try_with(|timers| {
                if let Ok(mut timers) = timers.try_borrow_mut()
                    && let Some(timers) = timers.as_mut()
                    && timers.entries.get(key).is_some_and(|entry| entry.id == id)
                {
                    timers.entries.remove(key);
                }
            });
        }
    }
}

impl hyper::rt::Sleep for Sleep {}

/// hyper's timer (the HTTP/1 header-read timeout) on coarse timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep::after(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep::until(deadline))
    }
}

/// `future` took longer than its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// `future`'s output, or [`Elapsed`] when it is not done within `duration`.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: Sleep::after(duration),
    }
}

pin_project_lite::pin_project! {
    /// What [`timeout`] returns. A struct rather than an `async fn`: the
    /// wrapped future is not copied into another state machine (a proxied
    /// request's exchange is several hundred bytes).
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(this.sleep).poll(cx).map(|()| Err(Elapsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on an event loop of its own: a current-thread runtime
    /// with coarse timers and their sweeper.
    fn on_event_loop<F: Future<Output = ()>>(test: F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        enable_on_this_thread();
        runtime.block_on(async {
            tokio::select! {
                () = sweep() => unreachable!("the sweeper runs for ever"),
                () = test => {}
            }
        });
    }

    fn armed() -> usize {
        TIMERS.with(|timers| timers.borrow().as_ref().map_or(0, |t| t.entries.len()))
    }

    /// A future moved off the loop it armed its timer on (to another loop or
    /// to a thread without coarse timers) does not time out early.
    #[test]
    fn a_timer_moved_to_another_thread_keeps_its_deadline() {
        for target_is_a_loop in [true, false] {
            let (tx, rx) = std::sync::mpsc::channel();
            let started = Instant::now();
            on_event_loop(async move {
                let mut sleep = Box::pin(Sleep::after(Duration::from_millis(300)));
                // Armed here, then sent away unfinished.
                assert!(futures_poll_once(sleep.as_mut()).await.is_pending());
                tx.send(sleep).unwrap();
            });
            let sleep = rx.recv().unwrap();
            std::thread::spawn(move || {
                let waited = async move {
                    sleep.await;
                    started.elapsed()
                };
                let elapsed = if target_is_a_loop {
                    let (tx, rx) = std::sync::mpsc::channel();
                    on_event_loop(async move { tx.send(waited.await).unwrap() });
                    rx.recv().unwrap()
                } else {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(waited)
                };
                assert!(
                    elapsed >= Duration::from_millis(300),
                    "fired after {elapsed:?} (to a loop: {target_is_a_loop})"
                );
            })
            .join()
            .unwrap();
        }
    }

    /// Polls `future` once.
    async fn futures_poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
        let mut future = Some(future);
        std::future::poll_fn(|cx| Poll::Ready(future.take().map(|f| f.poll(cx))))
            .await
            .unwrap_or(Poll::Pending)
    }

    #[test]
    fn a_timer_fires_at_its_deadline_within_a_tick() {
        on_event_loop(async {
            let started = Instant::now();
            Sleep::after(Duration::from_millis(120)).await;
            let elapsed = started.elapsed();
            assert!(elapsed >= Duration::from_millis(120), "{elapsed:?}");
            assert!(
                elapsed < Duration::from_millis(120) + TICK * 4,
                "{elapsed:?}"
            );
            assert_eq!(armed(), 0, "a fired timer leaves the slab");
        });
    }

    #[test]
    fn a_timeout_passes_the_output_on_or_gives_up_in_time() {
        on_event_loop(async {
            assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
            let started = Instant::now();
            let never = std::future::pending::<()>();
            assert_eq!(
                timeout(Duration::from_millis(100), never).await,
                Err(Elapsed)
            );
            assert!(started.elapsed() >= Duration::from_millis(100));
            assert!(started.elapsed() < Duration::from_millis(100) + TICK * 4);
        });
    }

    #[test]
    fn a_timer_cancelled_early_leaves_the_slab() {
        on_event_loop(async {
            let quick = timeout(Duration::from_secs(60), async {
                tokio::task::yield_now().await;
                "done"
            });
            assert_eq!(quick.await, Ok("done"));
            assert_eq!(armed(), 0);
            // Later timers still fire, in deadline order.
            let started = Instant::now();
            let (long, short) = tokio::join!(
                async {
                    Sleep::after(Duration::from_millis(150)).await;
                    started.elapsed()
                },
                async {
                    Sleep::after(Duration::from_millis(50)).await;
                    started.elapsed()
                },
            );
            assert!(short < long, "{short:?} {long:?}");
            assert!(long >= Duration::from_millis(150));
        });
    }

    #[test]
    fn a_timer_dropped_on_another_thread_is_swept_at_its_deadline() {
        on_event_loop(async {
            let mut sleep = Sleep::after(Duration::from_millis(60));
            let waker = Waker::noop();
            assert!(
                Pin::new(&mut sleep)
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
            assert_eq!(armed(), 1);
            // Dropped where its slab is not: that thread's timers are untouched.
            std::thread::spawn(move || drop(sleep)).join().unwrap();
            assert_eq!(armed(), 1);
            // Its entry goes when the sweeper finds it due.
            Sleep::after(Duration::from_millis(60)).await;
            tokio::time::sleep(TICK * 2).await;
            assert_eq!(armed(), 0);
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn off_an_event_loop_a_timer_is_tokios() {
        let started = Instant::now();
        Sleep::after(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(armed(), 0);
        assert_eq!(
            timeout(Duration::from_millis(30), std::future::pending::<()>()).await,
            Err(Elapsed)
        );
    }
}
