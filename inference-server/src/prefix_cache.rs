//! Prompt-prefix reuse: the caches of finished sequences are kept (least recently used
//! first out, within a byte budget), and a new prompt that starts like one of them starts
//! from a copy of its keys and values instead of re-encoding the shared start — the
//! gateway's completion prompt repeats the same instructions and location profile for
//! every request of a site. As llama.cpp's server reuses a slot's common prefix and vLLM's
//! automatic prefix caching does, but per whole cache rather than per block.
//!
//! Caches depend on the adapter that produced them (LoRA changes keys and values), so an
//! entry is only reused by requests with the same adapter.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use crate::lora::LoraAdapter;
use crate::model::KvCache;

/// Shared starts shorter than this are re-encoded: copying a cache costs more than a few
/// tokens of prefill.
pub const MIN_REUSED_TOKENS: usize = 16;

struct Entry {
    /// The tokens whose keys and values `cache` holds, in order.
    tokens: Vec<u32>,
    /// The adapter that produced them (`None`: the base model; a dead `Weak`: an
    /// adapter since unloaded, never matched again).
    adapter: Option<Weak<LoraAdapter>>,
    cache: KvCache,
    bytes: usize,
}

/// Caches of finished sequences, most recently used first.
pub struct PrefixCache {
    entries: VecDeque<Entry>,
    budget_bytes: usize,
    used_bytes: usize,
}

/// A cache to start a new sequence from.
pub struct Reused {
    pub cache: KvCache,
    /// Prompt tokens it already holds.
    pub tokens: usize,
}

fn same_adapter(entry: &Option<Weak<LoraAdapter>>, adapter: Option<&Arc<LoraAdapter>>) -> bool {
    match (entry, adapter) {
        (None, None) => true,
        (Some(weak), Some(arc)) => weak.strong_count() > 0 && std::ptr::eq(weak.as_ptr(), Arc::as_ptr(arc)),
        _ => false,
    }
}

impl PrefixCache {
    /// A cache of at most `budget_bytes` (0 turns reuse off).
    pub fn new(budget_bytes: usize) -> Self {
        Self { entries: VecDeque::new(), budget_bytes, used_bytes: 0 }
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// A copy of the cache sharing the longest start with `prompt` (at least
    /// [`MIN_REUSED_TOKENS`], and leaving the prompt's last token to be run so that the
    /// sequence gets its logits), or `None`.
    pub fn reuse(&mut self, prompt: &[u32], adapter: Option<&Arc<LoraAdapter>>) -> Option<Reused> {
        let (index, shared) = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| same_adapter(&e.adapter, adapter))
            .map(|(i, e)| (i, common_prefix(&e.tokens, prompt).min(prompt.len().saturating_sub(1))))
            .max_by_key(|&(_, shared)| shared)?;
        if shared < MIN_REUSED_TOKENS {
            return None;
        }
        let cache = self.entries[index].cache.fork_prefix(shared).ok()?;
        // Most recently used first.
        if let Some(entry) = self.entries.remove(index) {
            self.entries.push_front(entry);
        }
        Some(Reused { cache, tokens: shared })
    }

    /// Keeps a finished sequence's cache; `tokens` are the ones it holds. Evicts the least
    /// recently used entries beyond the budget; an entry whose tokens another one already
    /// starts with is replaced.
    pub fn insert(&mut self, tokens: Vec<u32>, adapter: Option<&Arc<LoraAdapter>>, cache: KvCache) {
        let bytes = cache.bytes();
        if bytes > self.budget_bytes || tokens.len() < MIN_REUSED_TOKENS || tokens.len() != cache.len() {
            return;
        }
        // Entries this one covers (same adapter, a start of its tokens) add nothing.
        let before = self.entries.len();
        let mut freed = 0;
        self.entries.retain(|e| {
            let covered = same_adapter(&e.adapter, adapter) && tokens.starts_with(&e.tokens);
            if covered {
                freed += e.bytes;
            }
            !covered
        });
        debug_assert!(self.entries.len() <= before);
        self.used_bytes -= freed;
        self.entries.push_front(Entry { tokens, adapter: adapter.map(Arc::downgrade), cache, bytes });
        self.used_bytes += bytes;
        while self.used_bytes > self.budget_bytes {
            let Some(old) = self.entries.pop_back() else { break };
            self.used_bytes -= old.bytes;
        }
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
