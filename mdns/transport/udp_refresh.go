package transport

import (
	"fmt"
	"slices"
)

// Refresh lists the interfaces again (in the namespace the Conn was opened
// in), joins the groups on interfaces that came up or got an address of the
// family, leaves them on interfaces that went down, lost their last address
// of the family or vanished, and updates the Interfaces snapshot. Call it
// when a Watcher reports an event (RFC 6762 §13 asks a responder to
// re-announce after such changes; the caller does that).
//
// A group that cannot be joined is a Problem, not an error. Refresh fails
// only when the interfaces cannot be listed, or after Close (ErrClosed).
func (u *UDP) Refresh() error {
	u.refreshMu.Lock()
	defer u.refreshMu.Unlock()
	if u.closed() {
		return ErrClosed
	}
	all, err := interfacesIn(&u.ns)
	if err != nil {
		u.log.Warn("refresh failed", "err", err)
		return fmt.Errorf("transport: refresh: %w", err)
	}
	u.apply(all)
	return nil
}

// apply brings the group memberships in line with a listing of the
// interfaces. Called by Listen and Refresh (under refreshMu, or before the
// Conn is shared).
func (u *UDP) apply(all []Interface) {
	// The selection whatever the up/down state, so that groups joined on
	// an interface that went down are left below.
	var sel []Interface
	for i := range all {
		if candidate(&all[i], u.cfg.Interfaces, u.cfg.IncludeLoopback) {
			sel = append(sel, cloneInterface(&all[i]))
		}
	}
	u.mu.RLock()
	old := make(map[int]Interface, len(u.ifs))
	for i, ifc := range u.ifs {
		old[i] = cloneInterface(ifc)
	}
	u.mu.RUnlock()

	u.leaveGone(old, sel)
	next := make(map[int]*Interface, len(sel))
	var probs []Problem
	for i := range sel {
		c := &sel[i]
		prev, had := old[c.Index]
		if !had {
			prev = Interface{}
		}
		probs = append(probs, u.syncMembership(c, &prev)...)
		if c.V4 || c.V6 {
			next[c.Index] = c
		}
	}
	// Named interfaces that do not exist (any more) are worth a note.
	for _, n := range u.cfg.Interfaces {
		if !slices.ContainsFunc(sel, func(c Interface) bool { return c.Name == n }) {
			probs = append(probs, Problem{Interface: n, Step: "list interfaces", Family: "any", Err: ErrNoInterface})
		}
	}
	u.mu.Lock()
	u.ifs = next
	u.ifProb = probs
	u.mu.Unlock()
}

// leaveGone leaves the groups on interfaces that vanished or left the
// selection (the index is the identity of an interface; a renamed one
// stays itself).
func (u *UDP) leaveGone(old map[int]Interface, sel []Interface) {
	inSel := make(map[int]bool, len(sel))
	for i := range sel {
		inSel[sel[i].Index] = true
	}
	for i, prev := range old {
		if inSel[i] {
			continue
		}
		for fi, v4 := range []bool{true, false} {
			if s := u.sockAt(fi); s != nil && ((v4 && prev.V4) || (!v4 && prev.V6)) {
				u.leave(s, &prev, v4)
			}
		}
	}
}

// syncMembership joins or leaves each family's group on c as its state
// asks (wantJoin), given the memberships prev had, and sets c.V4 / c.V6 to
// the result. It returns the joins that failed.
func (u *UDP) syncMembership(c, prev *Interface) []Problem {
	var probs []Problem
	c.V4, c.V6 = false, false
	for fi, v4 := range []bool{true, false} {
		s := u.sockAt(fi)
		if s == nil {
			continue
		}
		was := (v4 && prev.V4) || (!v4 && prev.V6)
		want := wantJoin(c, v4, u.named[c.Name])
		joined := was
		switch {
		case want && !was:
			if err := s.join(netInterface(c)); err != nil {
				p := Problem{Interface: c.Name, Family: familyName(v4), Step: "join", Err: err}
				probs = append(probs, p)
				u.log.Warn("cannot join group", "interface", c.Name, "family", p.Family, "err", err)
			} else {
				joined = true
				u.log.Info("joined group", "interface", c.Name, "family", familyName(v4))
			}
		case !want && was:
			u.leave(s, prev, v4)
			joined = false
		}
		if v4 {
			c.V4 = joined
		} else {
			c.V6 = joined
		}
	}
	return probs
}

// leave drops a membership. Errors are expected when the interface has
// vanished (the kernel dropped the membership with it) and only logged.
func (u *UDP) leave(s famSock, ifc *Interface, v4 bool) {
	if err := s.leave(netInterface(ifc)); err != nil {
		u.log.Debug("leave group", "interface", ifc.Name, "family", familyName(v4), "err", err)
		return
	}
	u.log.Info("left group", "interface", ifc.Name, "family", familyName(v4))
}
