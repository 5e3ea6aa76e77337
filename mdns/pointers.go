package mdns

import (
	"errors"
	"fmt"
)

var errForwardPointer = fmt.Errorf("%w: compression pointer not to a prior occurrence", ErrMalformed)

// skipQuestions walks the qd questions after the 12-byte header and
// returns the offset of the first record.
func skipQuestions(b []byte, qd int) (int, error) {
	off := 12
	var err error
	for i := 0; i < qd; i++ {
		if off, err = walkName(b, off); err != nil {
			return 0, err
		}
		off += 4
	}
	return off, nil
}

// checkPointers rejects compression pointers that do not point backwards.
// RFC 1035 §4.1.4 defines a pointer as referring to a prior occurrence of
// the name; forward (or self) pointers are how crafted packets build loops
// and overlapping names that different decoders read differently. It runs
// after miekg/dns accepted the message, so the structure is known to fit:
// it walks the names of the questions, of every record owner and of the
// rdata of the types that carry names (PTR, NS, CNAME, SRV, NSEC).
func checkPointers(b []byte, qd, rrs int) error {
	off, err := skipQuestions(b, qd)
	if err != nil {
		return err
	}
	for i := 0; i < rrs; i++ {
		if off, err = walkName(b, off); err != nil {
			return err
		}
		if off+10 > len(b) {
			return errors.New("short record") // cannot happen after Unpack
		}
		typ := int(b[off])<<8 | int(b[off+1])
		rdlen := int(b[off+8])<<8 | int(b[off+9])
		rd := off + 10
		switch typ {
		case 2, 5, 12, 47: // NS, CNAME, PTR, NSEC: rdata starts with a name
			if _, err = walkName(b, rd); err != nil {
				return err
			}
		case 33: // SRV: priority, weight, port, target
			if _, err = walkName(b, rd+6); err != nil {
				return err
			}
		}
		off = rd + rdlen
	}
	return nil
}

// walkName follows one name starting at off and returns the offset after it
// in the original position.
func walkName(b []byte, off int) (int, error) {
	end := -1
	for hops := 0; hops < 128; hops++ {
		if off >= len(b) {
			return 0, fmt.Errorf("%w: name runs past the packet", ErrMalformed)
		}
		c := int(b[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if end < 0 {
					end = off + 1
				}
				return end, nil
			}
			off += 1 + c
		case 0xc0:
			if off+1 >= len(b) {
				return 0, fmt.Errorf("%w: truncated pointer", ErrMalformed)
			}
			target := (c&0x3f)<<8 | int(b[off+1])
			if target >= off {
				return 0, errForwardPointer
			}
			if end < 0 {
				end = off + 2
			}
			off = target
		default:
			return 0, fmt.Errorf("%w: reserved label type", ErrMalformed)
		}
	}
	return 0, fmt.Errorf("%w: too many labels", ErrMalformed)
}

// typeNSEC and typeOpaque: an NSEC record (RFC 4034 §4) that miekg/dns
// rejects (python-zeroconf sends NSECs with an empty type-bitmap block,
// which §4.1.2 forbids) is retyped to a private-use type (RFC 6895 §3.1),
// which miekg/dns reads as opaque RFC 3597 data, and then dropped.
const (
	typeNSEC   = 47
	typeOpaque = 65534
)

// retypeNSEC returns a copy of b with every NSEC record retyped to
// typeOpaque, or nil when b has no NSEC record or its structure cannot be
// walked.
func retypeNSEC(b []byte) []byte {
	if len(b) < 12 {
		return nil
	}
	qd := int(b[4])<<8 | int(b[5])
	rrs := int(b[6])<<8 | int(b[7]) + int(b[8])<<8 | int(b[9]) + int(b[10])<<8 | int(b[11])
	off, err := skipQuestions(b, qd)
	if err != nil {
		return nil
	}
	var out []byte
	for i := 0; i < rrs; i++ {
		if off, err = walkName(b, off); err != nil || off+10 > len(b) {
			return nil
		}
		if int(b[off])<<8|int(b[off+1]) == typeNSEC {
			if out == nil {
				out = append([]byte(nil), b...)
			}
			out[off], out[off+1] = typeOpaque>>8, typeOpaque&0xff
		}
		off += 10 + (int(b[off+8])<<8 | int(b[off+9]))
	}
	return out
}
