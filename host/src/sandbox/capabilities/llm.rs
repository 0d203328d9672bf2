//! `spaceport:platform/llm`: chat completions (whole or streamed) and
//! embeddings through the host's [`LlmBackend`] (by default the
//! OpenAI-compatible client in `services::llm`), for components the manifest
//! grants it (`llm = true`). The API key never enters the instance.

use super::bindings::llm::{
    self, Completion as WitCompletion, Error as WitError, Host, HostCompletionStream, Message,
    RelayFormat as WitRelayFormat, RelayOutcome as WitRelayed, Request, Role, StreamEvent,
    ToolCall as WitToolCall, Usage as WitUsage,
};
use super::{AbortGuard, Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::services::llm::{Completion, LlmClient, LlmError, StreamItem};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Streamed completion steps, as a backend delivers them.
pub type StreamReceiver = mpsc::Receiver<Result<StreamItem, LlmError>>;

/// A language model as the llm capability sees it. [`LlmClient`] is the
/// default; a test double or another provider's client plugs in here.
#[async_trait::async_trait]
pub trait LlmBackend: Send + Sync + 'static {
    /// A whole completion for an OpenAI Chat Completions request body.
    async fn complete(&self, body: Value) -> Result<Completion, LlmError>;
    /// A streamed completion: content deltas, then the finished completion.
    fn stream(&self, body: Value) -> Result<StreamReceiver, LlmError>;
    /// Embeddings for `inputs`.
    async fn embed(
        &self,
        inputs: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Vec<f32>>, LlmError>;
}

/// The default backend. `stream` needs an `Arc` of the client (it spawns a
/// task that owns it), hence the wrapper.
pub struct ClientBackend(pub Arc<LlmClient>);

#[async_trait::async_trait]
impl LlmBackend for ClientBackend {
    async fn complete(&self, body: Value) -> Result<Completion, LlmError> {
        self.0.complete(body).await
    }

    fn stream(&self, body: Value) -> Result<StreamReceiver, LlmError> {
        self.0.stream(body)
    }

    async fn embed(
        &self,
        inputs: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        self.0.embed(inputs, model).await
    }
}

/// The llm capability.
pub struct Llm {
    pub backend: Arc<dyn LlmBackend>,
}

/// Per-instance state: the backend, if granted.
pub struct State {
    component: Arc<str>,
    backend: Option<Arc<dyn LlmBackend>>,
    grant: Option<LlmGrant>,
    /// Where `relay` leaves its relay, and the places it takes; only an
    /// instance serving an HTTP request has them (see [`State::accept_relays`]).
    relay: Option<(RelaySlot, RelayPlaces)>,
    /// When the instance's response must be over (relays included).
    deadline: std::time::Instant,
    /// In an instance resumed after a relay: what `relayed` returns.
    relayed: Option<WitRelayed>,
}

/// How a relay frames the model's text in the response body.
#[derive(Debug, Clone)]
pub struct RelayFormat {
    prefix: Bytes,
    json_text: bool,
    suffix: Bytes,
    keepalive: Bytes,
    /// `None`: no keep-alives.
    keepalive_every: Option<Duration>,
}

impl RelayFormat {
    /// The bytes sent for one piece of the answer's text.
    pub fn content(&self, text: &str) -> Bytes {
        let mut out =
            BytesMut::with_capacity(self.prefix.len() + text.len() + self.suffix.len() + 8);
        out.put_slice(&self.prefix);
        if self.json_text {
            // Serialising a string into a Vec cannot fail.
            let _ = serde_json::to_writer((&mut out).writer(), text);
        } else {
            out.put_slice(text.as_bytes());
        }
        out.put_slice(&self.suffix);
        out.freeze()
    }

    /// The keep-alive bytes and how often they are due, if any.
    pub fn keepalive(&self) -> Option<(Duration, Bytes)> {
        self.keepalive_every
            .map(|every| (every, self.keepalive.clone()))
    }
}

impl From<WitRelayFormat> for RelayFormat {
    fn from(f: WitRelayFormat) -> Self {
        Self {
            prefix: Bytes::from(f.prefix),
            json_text: f.json_text,
            suffix: Bytes::from(f.suffix),
            keepalive_every: (!f.keepalive.is_empty() && f.keepalive_ms > 0)
                .then(|| Duration::from_millis(f.keepalive_ms.into()).max(MIN_KEEPALIVE)),
            keepalive: Bytes::from(f.keepalive),
        }
    }
}

/// A streamed completion an instance handed to the host (`relay`), waiting
/// for the instance's own body to end.
pub struct PendingRelay {
    /// The model's answer as it streams.
    pub receiver: StreamReceiver,
    pub format: RelayFormat,
    /// Handed to the resumed instance as is.
    pub state: Vec<u8>,
    /// Its places (the host's, its component's, and its state's bytes),
    /// held until the completion has ended.
    pub places: [OwnedSemaphorePermit; 3],
    /// Drops the relay if the host has not taken it by the deadline (its
    /// body never ended where anyone read it); stopped with the relay.
    pub watchdog: AbortGuard,
}

/// What relays may take: the host's places, the component's, and KiB of
/// state held in host memory (all of them host-wide at most
/// [`MAX_RELAY_STATE_TOTAL`]).
#[derive(Clone)]
pub struct RelayPlaces {
    pub host: Arc<Semaphore>,
    pub component: Arc<Semaphore>,
    pub state_kib: Arc<Semaphore>,
}

/// Where an HTTP instance's `relay` call leaves its relay for the host.
#[derive(Clone, Default)]
pub struct RelaySlot(Arc<Mutex<Slot>>);

#[derive(Default)]
enum Slot {
    /// The response is open and nothing is pending.
    #[default]
    Open,
    /// Boxed: an open slot (most of them) stays small.
    Pending(Box<PendingRelay>),
    /// The instance's body has ended: a relay now would have nowhere to go.
    Closed,
}

impl RelaySlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        // A panic while the lock was held cannot leave a half-written enum.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The instance's body has ended: take its relay, if it left one, and
    /// refuse any later one.
    pub fn close(&self) -> Option<PendingRelay> {
        match std::mem::replace(&mut *self.lock(), Slot::Closed) {
            Slot::Pending(relay) => Some(*relay),
            Slot::Open | Slot::Closed => None,
        }
    }

    /// Whether a relay is waiting.
    pub fn pending(&self) -> bool {
        matches!(*self.lock(), Slot::Pending(_))
    }

    /// Whether a relay would be taken now (before a model call is started for it).
    fn accepting(&self) -> Result<(), WitError> {
        match *self.lock() {
            Slot::Open => Ok(()),
            Slot::Pending(_) => Err(WitError::InvalidRequest(
                "a relay is already pending for this response".into(),
            )),
            Slot::Closed => Err(WitError::InvalidRequest(
                "the response body has already ended: relay before ending it".into(),
            )),
        }
    }

    /// Leave `relay` for the host, if the response is open and has none yet.
    fn offer(&self, relay: PendingRelay) -> Result<(), WitError> {
        let mut slot = self.lock();
        if let Slot::Open = *slot {
            *slot = Slot::Pending(Box::new(relay));
            return Ok(());
        }
        drop(slot);
        self.accepting()
    }
}

/// Most bytes of `state` a relay carries (it is held in host memory for the
/// whole relay).
pub const MAX_RELAY_STATE: usize = 1 << 20;
/// Most bytes of state all relays together hold in host memory.
pub const MAX_RELAY_STATE_TOTAL: usize = 64 << 20;
/// Most bytes of a relay format's strings together.
const MAX_RELAY_FORMAT: usize = 4096;
/// Keep-alives are written at most this often.
const MIN_KEEPALIVE: Duration = Duration::from_millis(100);

impl State {
    /// Let this instance relay into its HTTP response, within `places`;
    /// the host reads the relay from the slot returned once the instance's
    /// body has ended.
    pub fn accept_relays(&mut self, places: RelayPlaces) -> RelaySlot {
        let slot = RelaySlot::default();
        self.relay = Some((slot.clone(), places));
        slot
    }

    /// Resume after a relay: what `relayed` returns in this instance.
    pub fn resume(&mut self, state: Vec<u8>, outcome: Result<Completion, LlmError>) {
        self.relayed = Some(WitRelayed {
            state,
            outcome: outcome.map(to_wit).map_err(WitError::from),
        });
    }
}

/// What the bindings see: this capability's state and the instance's resource table.
pub struct View<'a> {
    state: &'a mut State,
    table: &'a mut ResourceTable,
}

struct Data;

impl HasData for Data {
    type Data<'a> = View<'a>;
}

/// The host side of a `completion-stream`; `None` once it has ended.
pub struct CompletionStream(Option<StreamReceiver>);

/// What the manifest lets one component ask of the model.
#[derive(Debug, Clone)]
pub struct LlmGrant {
    /// Models it may name (empty: it may name none, the host's default is used).
    pub models: Arc<[String]>,
    /// Ceiling on `max-tokens` (applied when it asks for more or for none).
    pub max_tokens: Option<u32>,
}

impl Capability for Llm {
    type Grant = Option<LlmGrant>;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(llm::add_to_linker::<_, Data>(linker, |s| View {
            state: &mut s.llm,
            table: &mut s.table,
        })?)
    }

    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, GrantError> {
        if !component.llm {
            if !component.llm_models.is_empty() || component.llm_max_tokens.is_some() {
                return Err(GrantError::new(
                    id,
                    "llm_models",
                    "has no effect without `llm = true`",
                ));
            }
            return Ok(None);
        }
        if component.llm_max_tokens == Some(0) {
            return Err(GrantError::new(id, "llm_max_tokens", "expected at least 1"));
        }
        Ok(Some(LlmGrant {
            models: component.llm_models.iter().cloned().collect(),
            max_tokens: component.llm_max_tokens,
        }))
    }

    fn instance(
        &self,
        grant: &Self::Grant,
        request: &Arc<RequestInfo>,
        deadline: std::time::Instant,
    ) -> State {
        State {
            component: request.component_id.clone(),
            backend: grant.as_ref().map(|_| self.backend.clone()),
            grant: grant.clone(),
            relay: None,
            relayed: None,
            deadline,
        }
    }
}

impl View<'_> {
    fn backend(&self) -> Result<&Arc<dyn LlmBackend>, WitError> {
        self.state.backend.as_ref().ok_or_else(|| {
            WitError::AccessDenied(
                Denied::new(
                    "llm",
                    &self.state.component,
                    "the llm capability".into(),
                    "llm = true".into(),
                )
                .to_string(),
            )
        })
    }
}

impl View<'_> {
    /// Refuse a model the grant does not list (the same check for every call).
    fn check_model(&self, model: Option<&String>) -> Result<(), WitError> {
        let (Some(model), Some(grant)) = (model, &self.state.grant) else {
            return Ok(());
        };
        if grant.models.iter().any(|m| m == model) {
            return Ok(());
        }
        let allowed = if grant.models.is_empty() {
            "none: omit `model` to use the host's default".to_string()
        } else {
            grant.models.join(", ")
        };
        Err(WitError::InvalidRequest(format!(
            "model `{model}` is not allowed for component `{}` (`llm_models` in the manifest allows: {allowed})",
            self.state.component
        )))
    }

    /// `request` within the grant: a model it may name, `max-tokens` at most the ceiling.
    fn within_grant(&self, mut request: Request) -> Result<Request, WitError> {
        self.check_model(request.model.as_ref())?;
        if let Some(ceiling) = self.state.grant.as_ref().and_then(|g| g.max_tokens) {
            request.max_tokens = Some(request.max_tokens.map_or(ceiling, |t| t.min(ceiling)));
        }
        Ok(request)
    }
}

impl Host for View<'_> {
    async fn complete(&mut self, request: Request) -> Result<WitCompletion, WitError> {
        let backend = self.backend()?.clone();
        let request = self.within_grant(request)?;
        let body = body(request);
        // The HTTP exchange (with its retries) runs off this instance's fiber.
        let completion = super::off_fiber(move || async move { backend.complete(body).await })
            .await
            .ok_or_else(|| WitError::Unavailable("the call failed".into()))??;
        Ok(to_wit(completion))
    }

    async fn stream(&mut self, request: Request) -> Result<Resource<CompletionStream>, WitError> {
        let backend = self.backend()?.clone();
        let request = self.within_grant(request)?;
        let rx = backend.stream(body(request))?;
        self.table
            .push(CompletionStream(Some(rx)))
            .map_err(|e| WitError::BadResponse(e.to_string()))
    }

    async fn relay(
        &mut self,
        request: Request,
        format: WitRelayFormat,
        state: Vec<u8>,
    ) -> Result<(), WitError> {
        let backend = self.backend()?.clone();
        let Some((slot, places)) = &self.state.relay else {
            return Err(WitError::InvalidRequest(
                "relay is only available while serving an HTTP request".into(),
            ));
        };
        slot.accepting()?;
        if state.len() > MAX_RELAY_STATE {
            return Err(WitError::InvalidRequest(format!(
                "a relay's state is at most {MAX_RELAY_STATE} bytes (got {})",
                state.len()
            )));
        }
        if format.prefix.len() + format.suffix.len() + format.keepalive.len() > MAX_RELAY_FORMAT {
            return Err(WitError::InvalidRequest(format!(
                "a relay format's strings are at most {MAX_RELAY_FORMAT} bytes together"
            )));
        }
        let request = self.within_grant(request)?;
        let busy = |what: &str| {
            WitError::Unavailable(format!(
                "{what}: the host cannot relay more now; stream the completion instead"
            ))
        };
        // At most 1 MiB, so the count fits in u32.
        let kib = u32::try_from(state.len().div_ceil(1024)).unwrap_or(u32::MAX);
        let places = [
            places
                .component
                .clone()
                .try_acquire_owned()
                .map_err(|_| busy("this component relays as many streams as it may"))?,
            places
                .host
                .clone()
                .try_acquire_owned()
                .map_err(|_| busy("every relay place is taken"))?,
            places
                .state_kib
                .clone()
                .try_acquire_many_owned(kib)
                .map_err(|_| busy("relays hold all the state memory they may"))?,
        ];
        let slot = slot.clone();
        let receiver = backend.stream(body(request))?;
        // A relay left in a body nobody reads (a client that stopped
        // reading) would keep its model call and places until the
        // connection closed: at the deadline it is dropped.
        // It holds the slot weakly: a response that is gone (a client that
        // left) drops its relay at once, not at the deadline.
        let watchdog = {
            let (slot, deadline) = (Arc::downgrade(&slot.0), self.state.deadline);
            AbortGuard::new(
                tokio::spawn(async move {
                    tokio::time::sleep_until(deadline.into()).await;
                    if let Some(slot) = slot.upgrade() {
                        drop(RelaySlot(slot).close());
                    }
                })
                .abort_handle(),
            )
        };
        slot.offer(PendingRelay {
            receiver,
            format: format.into(),
            state,
            places,
            watchdog,
        })
    }

    async fn relayed(&mut self) -> Option<WitRelayed> {
        self.state.relayed.clone()
    }

    async fn embed(
        &mut self,
        inputs: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Vec<f32>>, WitError> {
        let backend = self.backend()?.clone();
        self.check_model(model.as_ref())?;
        Ok(
            super::off_fiber(move || async move { backend.embed(inputs, model).await })
                .await
                .ok_or_else(|| WitError::Unavailable("the call failed".into()))??,
        )
    }
}

impl HostCompletionStream for View<'_> {
    async fn next(
        &mut self,
        stream: Resource<CompletionStream>,
        wait_ms: u32,
    ) -> Result<StreamEvent, WitError> {
        let slot = self
            .table
            .get_mut(&stream)
            .map_err(|e| WitError::BadResponse(e.to_string()))?;
        let Some(rx) = slot.0.as_mut() else {
            return Err(WitError::BadResponse("the stream has already ended".into()));
        };
        let item =
            match tokio::time::timeout(Duration::from_millis(wait_ms.into()), rx.recv()).await {
                Err(_) => return Ok(StreamEvent::Idle),
                Ok(item) => item,
            };
        match received(item) {
            Ok(StreamItem::Content(text)) => Ok(StreamEvent::Content(text)),
            Ok(StreamItem::Finished(done)) => {
                slot.0 = None;
                Ok(StreamEvent::Finished(to_wit(*done)))
            }
            Err(e) => {
                slot.0 = None;
                Err(e.into())
            }
        }
    }

    async fn drop(&mut self, stream: Resource<CompletionStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

/// One step received from a backend's stream: a closed channel before the
/// completion finished is a failure (the backend's task died).
pub fn received(item: Option<Result<StreamItem, LlmError>>) -> Result<StreamItem, LlmError> {
    item.unwrap_or_else(|| {
        Err(LlmError::Unavailable(
            "the stream ended unexpectedly".into(),
        ))
    })
}

/// The OpenAI Chat Completions request body.
fn body(request: Request) -> Value {
    let messages: Vec<Value> = request.messages.into_iter().map(message).collect();
    let mut body = json!({ "messages": messages });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .into_iter()
            .map(|t| {
                let parameters = serde_json::from_str::<Value>(&t.parameters_schema)
                    .unwrap_or_else(|_| json!({"type": "object"}));
                json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": parameters } })
            })
            .collect();
    }
    if let Some(model) = request.model {
        body["model"] = json!(model);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = request.max_tokens {
        body["max_tokens"] = json!(m);
    }
    body
}

fn message(m: Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut v = json!({ "role": role, "content": m.content });
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .into_iter()
            .map(|c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments } }))
            .collect();
    }
    if let Some(id) = m.tool_call_id {
        v["tool_call_id"] = json!(id);
    }
    v
}

fn to_wit(c: Completion) -> WitCompletion {
    WitCompletion {
        content: c.content,
        tool_calls: c
            .tool_calls
            .into_iter()
            .map(|t| WitToolCall {
                id: t.id,
                name: t.name,
                arguments: t.arguments,
            })
            .collect(),
        finish_reason: c.finish_reason,
        usage: c.usage.map(|u| WitUsage {
            prompt_tokens: u.prompt,
            completion_tokens: u.completion,
            total_tokens: u.total,
        }),
        model: c.model,
    }
}

impl From<LlmError> for WitError {
    fn from(e: LlmError) -> Self {
        let text = e.to_string();
        match e {
            LlmError::Unconfigured => WitError::Unconfigured(text),
            LlmError::Unauthorized(_) => WitError::Unauthorized(text),
            LlmError::RateLimited(_) => WitError::RateLimited(text),
            LlmError::Unavailable(_) => WitError::Unavailable(text),
            LlmError::BadResponse(_) => WitError::BadResponse(text),
            LlmError::Timeout(_) => WitError::Timeout(text),
            LlmError::InvalidRequest(_) => WitError::InvalidRequest(text),
        }
    }
}
