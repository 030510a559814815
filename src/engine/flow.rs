//! `--flow`: each user's place in the flow (a user is a connection of the core), its
//! variables, and the request it builds from a step's template. The worker asks which request
//! a user sends next, has its response's values captured, and learns when a flow began,
//! completed or failed, for the flow's own row. No allocation once a user's buffers have grown
//! to its requests' and values' sizes; nothing here runs without `--flow`.

use std::cell::{Cell, RefCell};

use crate::check::capture::{Capture, Missed};
use crate::engine::clock::Stamp;
use crate::engine::think::Pauses;
use crate::run::plan::FlowPlan;

/// One user's place in the flow.
#[derive(Default)]
struct User {
    step: u16,
    /// Times the step has run in this pass (a `repeat_until` step runs up to its `max`).
    runs: u32,
    /// The first request of the flow under way: when it was sent, and whether it counted (it
    /// was sent in the measured window). `None` between flows.
    began: Option<(Stamp, bool)>,
    /// The step whose pause comes next.
    last: u16,
    vars: Vec<Vec<u8>>,
    /// The current step's request, when its template built it.
    request: Vec<u8>,
}

/// How a step's exchange ended the flow, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The flow goes on (the next step, or this one again).
    Going,
    /// Its last step succeeded: the flow took `ns` from its first request's send; `counted`
    /// when it began in the measured window and its last request was sent in it.
    Completed { ns: u64, counted: bool },
    /// A step failed: the user starts over. `counted` as above, for the failed step.
    Failed { counted: bool },
}

/// One core's users.
pub struct Users {
    users: RefCell<Vec<User>>,
    /// A request's body while it is built (before its head, which gives its length).
    body: RefCell<Vec<u8>>,
    /// Each step's pauses (`think`), drawn by the core's generator for that step.
    pauses: Vec<Option<Pauses>>,
    /// Flows begun and not ended (with `-n`, the core waits for them).
    open: Cell<u64>,
}

impl Users {
    pub fn new(flow: &FlowPlan, seed: u64) -> Users {
        let pauses = (flow.steps.iter())
            .enumerate()
            .map(|(i, step)| {
                step.think
                    .map(|range| Pauses::new(range, seed ^ (i as u64 + 1)))
            })
            .collect();
        Users {
            users: RefCell::default(),
            body: RefCell::default(),
            pauses,
            open: Cell::new(0),
        }
    }

    /// Runs `f` on user `user`, whose state is made on its first use.
    fn with<T>(&self, user: usize, flow: &FlowPlan, f: impl FnOnce(&mut User) -> T) -> T {
        let mut users = self.users.borrow_mut();
        if users.len() <= user {
            users.resize_with(user + 1, User::default);
        }
        let one = &mut users[user];
        if one.vars.len() < flow.vars {
            one.vars.resize_with(flow.vars, Vec::new);
        }
        f(one)
    }

    /// Whether user `user`'s next request begins a flow.
    pub fn starting(&self, user: usize) -> bool {
        (self.users.borrow().get(user)).is_none_or(|u| u.began.is_none() && u.step == 0)
    }

    /// Flows begun and not ended.
    pub fn open(&self) -> u64 {
        self.open.get()
    }

    /// The request user `user` sends next: the plan's index of its step's request, built into
    /// the user's buffer when the step has variables (see `bytes`).
    pub fn next(&self, user: usize, flow: &FlowPlan) -> u32 {
        self.with(user, flow, |one| {
            let step = one.step;
            if let Some(template) = &flow.steps[step as usize].template {
                template.build(&one.vars, &mut one.request, &mut self.body.borrow_mut());
            }
            u32::from(step)
        })
    }

    /// The bytes user `user` built for its current request.
    ///
    /// The slice outlives the borrow of the users: it points into that user's own buffer,
    /// which nothing changes or frees until the user builds its next request, after this
    /// exchange (and its queued write) has ended; and a buffer's heap block does not move
    /// when the users' vector grows.
    pub fn bytes(&self, user: usize) -> &[u8] {
        let users = self.users.borrow();
        let request = &users[user].request;
        // SAFETY: see above; the block lives as long as `self`, whose users are never
        // removed.
        unsafe { std::slice::from_raw_parts(request.as_ptr(), request.len()) }
    }

    /// Takes the captures of user `user`'s current step from its response (`head`, `body`).
    /// On a miss, the capture that missed and why.
    pub fn capture<'a>(
        &self,
        user: usize,
        flow: &'a FlowPlan,
        head: &[u8],
        body: &[u8],
    ) -> Result<(), (&'a Capture, Missed)> {
        self.with(user, flow, |one| {
            let step = &flow.steps[one.step as usize];
            // A polling step's answer that it will poll again after may lack what the last
            // answer brings (a job's result, while it runs): only the variable it waits for
            // must be there, so it is taken first. The answer it moves on with must have them
            // all.
            let waits_for = |c: &&Capture| step.repeat.as_ref().is_some_and(|r| r.var == c.var);
            let captures = step.captures.iter();
            let first = captures.clone().filter(waits_for);
            let mut again = false;
            for capture in first.chain(captures.filter(|c| !waits_for(c))) {
                let value = &mut one.vars[capture.var as usize];
                match capture.take(head, body, value) {
                    Err(_) if again => {}
                    taken => taken.map_err(|m| (capture, m))?,
                }
                if let Some(repeat) = step.repeat.as_ref().filter(|_| waits_for(&capture)) {
                    again = repeat.again(one.runs + 1, value);
                }
            }
            Ok(())
        })
    }

    /// User `user`'s step ended (`ok`: it succeeded, captures and all), its request sent at
    /// `sent` and ended at `now`, `counted` when it was sent in the measured window: the
    /// user moves on (the next step, this one again until its `repeat_until` holds, or the
    /// top), and says whether the flow ended.
    pub fn ended(
        &self,
        user: usize,
        flow: &FlowPlan,
        ok: bool,
        times: (Stamp, Stamp),
        counted: bool,
    ) -> Ended {
        let (sent, now) = times;
        let ended = self.with(user, flow, |one| {
            one.last = one.step;
            let (began, began_counted) = *one.began.get_or_insert((sent, counted));
            if !ok {
                one.restart();
                return Ended::Failed {
                    counted: counted && began_counted,
                };
            }
            one.runs += 1;
            let step = &flow.steps[one.step as usize];
            let again = (step.repeat.as_ref())
                .is_some_and(|repeat| repeat.again(one.runs, &one.vars[repeat.var as usize]));
            if again {
                return Ended::Going;
            }
            one.step += 1;
            one.runs = 0;
            if usize::from(one.step) < flow.steps.len() {
                return Ended::Going;
            }
            one.restart();
            Ended::Completed {
                ns: now.since(began),
                counted: counted && began_counted,
            }
        });
        if ended != Ended::Going {
            self.open.set(self.open.get().saturating_sub(1));
        }
        ended
    }

    /// A flow begins (its first request is about to leave).
    pub fn begun(&self) {
        self.open.set(self.open.get() + 1);
    }

    /// The pauses of the step user `user` has just ended, if it has its own `think`.
    pub fn pauses(&self, user: usize) -> Option<&Pauses> {
        let last = self.users.borrow().get(user).map_or(0, |u| u.last);
        self.pauses.get(usize::from(last))?.as_ref()
    }
}

impl User {
    /// Back to the top of the flow (its variables stay: each is captured again before a
    /// step uses it).
    fn restart(&mut self) {
        self.step = 0;
        self.runs = 0;
        self.began = None;
    }
}
