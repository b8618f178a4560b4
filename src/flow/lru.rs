//! Intrusive doubly linked LRU lists over the slots of the flow slab.
//!
//! Each flow sits in exactly one list, the one of its timeout class; a packet
//! moves its flow to the head. All flows of a list share one timeout, so the
//! tail is the flow that expires first: expiry and eviction pop tails and
//! never scan the table. Links are `u32` slot indices ([`NIL`] for none).

/// No slot.
pub const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
    list: u8,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
    list: u8::MAX,
};

/// `N` lists over a growing set of slots.
#[derive(Debug)]
pub struct Lists<const N: usize> {
    heads: [u32; N],
    tails: [u32; N],
    links: Vec<Link>,
}

impl<const N: usize> Default for Lists<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Lists<N> {
    pub fn new() -> Self {
        Lists {
            heads: [NIL; N],
            tails: [NIL; N],
            links: Vec::new(),
        }
    }

    /// Make room for slot `idx` (called when the slab grows).
    pub fn ensure(&mut self, idx: u32) {
        let need = idx as usize + 1;
        if self.links.len() < need {
            self.links.resize(need, UNLINKED);
        }
    }

    /// The least recently touched slot of `list`.
    pub fn tail(&self, list: usize) -> Option<u32> {
        self.tails.get(list).copied().filter(|&t| t != NIL)
    }

    /// The list slot `idx` is in.
    pub fn list_of(&self, idx: u32) -> Option<usize> {
        self.links
            .get(idx as usize)
            .map(|l| l.list as usize)
            .filter(|&l| l < N)
    }

    /// Put `idx` at the head of `list` (unlinking it first).
    pub fn touch(&mut self, idx: u32, list: usize) {
        if list >= N {
            return;
        }
        // Already the head of that list: the common case on a busy flow.
        if self.heads[list] == idx && self.list_of(idx) == Some(list) {
            return;
        }
        self.unlink(idx);
        let old_head = self.heads[list];
        if let Some(l) = self.links.get_mut(idx as usize) {
            *l = Link {
                prev: NIL,
                next: old_head,
                list: list as u8,
            };
        } else {
            return;
        }
        if let Some(h) = self.links.get_mut(old_head as usize) {
            h.prev = idx;
        }
        self.heads[list] = idx;
        if self.tails[list] == NIL {
            self.tails[list] = idx;
        }
    }

    /// Take `idx` out of its list (no-op if it is in none).
    pub fn unlink(&mut self, idx: u32) {
        let Some(&link) = self.links.get(idx as usize) else {
            return;
        };
        let list = link.list as usize;
        if list >= N {
            return;
        }
        match self.links.get_mut(link.prev as usize) {
            Some(p) => p.next = link.next,
            None => self.heads[list] = link.next,
        }
        match self.links.get_mut(link.next as usize) {
            Some(n) => n.prev = link.prev,
            None => self.tails[list] = link.prev,
        }
        if let Some(l) = self.links.get_mut(idx as usize) {
            *l = UNLINKED;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(l: &Lists<2>, list: usize) -> Vec<u32> {
        // Walk from the tail through `prev` links.
        let mut v = Vec::new();
        let mut cur = l.tails[list];
        while cur != NIL {
            v.push(cur);
            cur = l.links[cur as usize].prev;
        }
        v
    }

    #[test]
    fn touch_moves_to_head_and_tail_is_oldest() {
        let mut l = Lists::<2>::new();
        l.ensure(4);
        for i in 0..5 {
            l.touch(i, 0);
        }
        assert_eq!(order(&l, 0), vec![0, 1, 2, 3, 4]);
        l.touch(0, 0);
        l.touch(2, 1);
        assert_eq!(order(&l, 0), vec![1, 3, 4, 0]);
        assert_eq!(order(&l, 1), vec![2]);
        assert_eq!(l.tail(0), Some(1));
        l.unlink(1);
        l.unlink(1);
        l.unlink(0);
        assert_eq!(order(&l, 0), vec![3, 4]);
        l.unlink(2);
        assert_eq!(l.tail(1), None);
        assert_eq!(l.list_of(2), None);
    }
}
