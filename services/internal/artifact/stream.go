package artifact

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Stream walks an artifact's top-level object member by member without
// decoding it: a section's entries are handed out one at a time as their raw
// JSON bytes (see [Stream.Members]), and what is not wanted is skipped by a
// scanner that only tracks strings and brackets, several times faster than a
// tokenizer. Only one entry is held in memory at a time; the buffer grows to
// the largest entry. Values are not validated beyond their strings and
// brackets: the raw readers ([EachMember], [Member], ...) report what they
// cannot read in the bytes handed out.
type Stream struct {
	r    io.Reader
	kind Kind
	buf  []byte // buf[pos:end] is unread input
	pos  int
	end  int
	off  int64 // input offset of buf[0]
	eof  bool
	// pinned: buf[pin:] must stay where it is (values handed out by Object
	// point into it); more room is made by moving to a new buffer.
	pinned bool
	pin    int
	// spare is a buffer left by an earlier pin, reused by the next move.
	spare   []byte
	pins    int    // Object calls so far
	spareOf int    // the Object call whose values may point into spare
	name    []byte // the last member name keyBytes read
}

// NewStream returns a Stream reading the artifact of kind k from r.
func NewStream(r io.Reader, k Kind) *Stream {
	return newStreamSize(r, k, 32<<10)
}

func newStreamSize(r io.Reader, k Kind, size int) *Stream {
	return &Stream{r: r, kind: k, buf: make([]byte, max(size, 1))}
}

// malformed is the permanent error of an unreadable document.
func (s *Stream) malformed(at int, format string, args ...any) error {
	return retry.Permanent(fmt.Errorf("read %s: malformed at byte %d: %s", s.kind.FileName(), s.off+int64(at), fmt.Sprintf(format, args...)))
}

// fill reads more input, keeping buf[keep:end] (moved to the front). It
// reports false at the end of the input.
func (s *Stream) fill(keep int) (int, bool, error) {
	if s.pinned {
		return s.fillPinned()
	}
	shift := keep
	if keep > 0 {
		copy(s.buf, s.buf[keep:s.end])
		s.end -= keep
		s.pos -= keep
		s.off += int64(keep)
	}
	if s.end == len(s.buf) {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	got, err := s.readMore()
	return shift, got, err
}

// readMore reads into the free end of the buffer; it reports whether any
// bytes came, and remembers the end of the input.
func (s *Stream) readMore() (bool, error) {
	if s.eof {
		return false, nil
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if errors.Is(err, io.EOF) {
			s.eof = true
			return n > 0, nil
		}
		if err != nil {
			return false, fmt.Errorf("read %s: %w", s.kind.FileName(), err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

// fillPinned reads more input without moving the bytes handed out since
// the pin: when the buffer is full, it continues in a new one.
func (s *Stream) fillPinned() (int, bool, error) {
	shift := 0
	if s.end == len(s.buf) {
		shift = s.pin
		size := max(len(s.buf), 2*(s.end-s.pin))
		nb := s.spare
		if s.spareOf == s.pins || len(nb) < size {
			nb = make([]byte, size)
		}
		s.spare, s.spareOf = s.buf, s.pins
		s.end = copy(nb, s.buf[s.pin:s.end])
		s.buf, s.pos, s.off, s.pin = nb, s.pos-shift, s.off+int64(shift), 0
	}
	got, err := s.readMore()
	return shift, got, err
}

// Object calls fn with each member of the object that is the next value:
// the member name as written between its quotes (escapes undone when there
// are any) and the raw value. Everything handed out stays valid until the
// next call on s, and the object is scanned once. A value that is not an object is
// skipped and reported as false.
func (s *Stream) Object(fn func(key, raw []byte) error) (bool, error) {
	c, err := s.ws()
	if err != nil {
		return false, err
	}
	if c != '{' {
		return false, s.Skip()
	}
	s.pinned, s.pin = true, s.pos
	s.pins++
	defer func() { s.pinned = false }()
	s.pos++
	return true, s.list('}', func() error {
		c, err := s.ws()
		if err != nil {
			return err
		}
		if c != '"' {
			return s.malformed(s.pos, "found %q, want a member name", c)
		}
		start := s.pos
		var key []byte
		if j := quoteOrBackslash(s.buf[:s.end], start+1); j < s.end && s.buf[j] == '"' {
			key, s.pos = s.buf[start+1:j], j+1 // no escapes: the common case
		} else {
			quoted, err := s.Value()
			if err != nil {
				return err
			}
			k, ok := unquote(quoted)
			if !ok {
				return s.malformed(s.pos, "invalid member name")
			}
			key = []byte(k)
		}
		if err := s.expect(':', "':'"); err != nil {
			return err
		}
		raw, err := s.Value()
		if err != nil {
			return err
		}
		return fn(key, raw)
	})
}

// LastObjectAt is where the object the last Object call read (reporting
// true) is in the input: its offset and length in bytes.
func (s *Stream) LastObjectAt() (int64, int) {
	return s.off + int64(s.pin), s.pos - s.pin
}

// MembersObject calls fn with each member of the object that is the next
// value, each one's own members walked by Object: a section of entries read
// one at a time, each scanned once. The key is valid until fn reads
// another member name from s (with Members, MembersObject or Walk).
func (s *Stream) MembersObject(fn func(key []byte) error) (bool, error) {
	if in, null, err := s.enter('{'); !in {
		return null, err
	}
	return true, s.list('}', func() error {
		k, err := s.keyBytes()
		if err != nil {
			return err
		}
		return fn(k)
	})
}

// ws skips whitespace and returns the next byte, 0 at the end of the input.
func (s *Stream) ws() (byte, error) {
	for {
		for s.pos < s.end {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return c, nil
			}
		}
		_, more, err := s.fill(s.pos)
		if err != nil {
			return 0, err
		}
		if !more {
			return 0, nil
		}
	}
}

func (s *Stream) expect(c byte, what string) error {
	got, err := s.ws()
	if err != nil {
		return err
	}
	if got != c {
		if got == 0 {
			return s.malformed(s.pos, "unexpected end of input, want %s", what)
		}
		return s.malformed(s.pos, "found %q, want %s", got, what)
	}
	s.pos++
	return nil
}

// Value returns the next value's raw bytes, valid until the next call.
func (s *Stream) Value() ([]byte, error) {
	return s.scan(true)
}

// Skip skips the next value, holding no more than a chunk of it.
func (s *Stream) Skip() error {
	_, err := s.scan(false)
	return err
}

func (s *Stream) scan(keep bool) ([]byte, error) {
	c, err := s.ws()
	if err != nil {
		return nil, err
	}
	if c == 0 {
		return nil, s.malformed(s.pos, "unexpected end of input, want a value")
	}
	start := s.pos
	if end, ok := s.quickEnd(c); ok {
		s.pos = end
		return s.buf[start:end], nil
	}
	var sk skipper
	i := s.pos
	for {
		end, done, err := sk.scan(s.buf[:s.end], i)
		if err != nil {
			return nil, s.malformed(end, "%v", err)
		}
		if done {
			s.pos = end
			return s.buf[start:end], nil
		}
		k := end
		if keep {
			k = start
		}
		s.pos = k
		shift, more, err := s.fill(k)
		if err != nil {
			return nil, err
		}
		i = end - shift
		if start -= shift; !keep {
			start = i
		}
		if !more {
			if end, ok := sk.atEOF(i); ok {
				s.pos = end
				return s.buf[start:end], nil
			}
			return nil, s.malformed(i, "unexpected end of input inside a value")
		}
	}
}

// quickEnd finds the end of the next value, which starts with c, when it
// is a string without escapes or a number or literal, and is in the buffer
// with the byte after it: the common case, without a skipper.
func (s *Stream) quickEnd(c byte) (int, bool) {
	b := s.buf[:s.end]
	switch {
	case c == '"':
		j := quoteOrBackslash(b, s.pos+1)
		return j + 1, j < len(b) && b[j] == '"'
	case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
		j := s.pos + 1
		for j < len(b) && byteClass[b[j]] == '0' {
			j++
		}
		return j, j < len(b)
	}
	return 0, false
}

// key reads a member name and its colon.
func (s *Stream) key() (string, error) {
	name, err := s.keyBytes()
	return string(name), err
}

// keyBytes is key without a string: the name is valid until the next
// keyBytes call.
func (s *Stream) keyBytes() ([]byte, error) {
	c, err := s.ws()
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, s.malformed(s.pos, "found %q, want a member name", c)
	}
	raw, err := s.Value()
	if err != nil {
		return nil, err
	}
	s.name = append(s.name[:0], raw[1:len(raw)-1]...) // the buffer may move before the colon
	if slices.Contains(s.name, '\\') {
		u, ok := unquote(raw)
		if !ok {
			return nil, s.malformed(s.pos, "invalid member name")
		}
		s.name = append(s.name[:0], u...)
	}
	if err := s.expect(':', "':'"); err != nil {
		return nil, err
	}
	return s.name, nil
}

// Walk reads the top-level object, calling member with each member name;
// member consumes the value with Value, Skip, Members or Elements, or else
// it is skipped.
func (s *Stream) Walk(member func(name string) error) error {
	if err := s.expect('{', "a top-level object"); err != nil {
		return err
	}
	first := true
	for {
		c, err := s.ws()
		if err != nil {
			return err
		}
		if c == '}' && first {
			s.pos++
			break
		}
		first = false
		name, err := s.key()
		if err != nil {
			return err
		}
		before := s.off + int64(s.pos)
		if err := member(name); err != nil {
			return err
		}
		if s.off+int64(s.pos) == before {
			if err := s.Skip(); err != nil {
				return err
			}
		}
		if c, err = s.ws(); err != nil {
			return err
		}
		s.pos++
		if c == '}' {
			break
		}
		if c != ',' {
			return s.malformed(s.pos-1, "found %q, want ',' or '}'", c)
		}
	}
	c, err := s.ws()
	if err != nil {
		return err
	}
	if c != 0 {
		return s.malformed(s.pos, "data after the top-level object")
	}
	return nil
}

// Members calls fn with each member of the object that is the next value;
// raw is valid until fn returns. null is an empty object; any other value is
// skipped and reported as false.
func (s *Stream) Members(fn func(key string, raw []byte) error) (bool, error) {
	if in, null, err := s.enter('{'); !in {
		return null, err
	}
	return true, s.list('}', func() error {
		k, err := s.key()
		if err != nil {
			return err
		}
		raw, err := s.Value()
		if err != nil {
			return err
		}
		return fn(k, raw)
	})
}

// Elements calls fn with each element of the array that is the next value;
// as Members.
func (s *Stream) Elements(fn func(raw []byte) error) (bool, error) {
	if in, null, err := s.enter('['); !in {
		return null, err
	}
	return true, s.list(']', func() error {
		raw, err := s.Value()
		if err != nil {
			return err
		}
		return fn(raw)
	})
}

func (s *Stream) list(close byte, item func() error) error {
	c, err := s.ws()
	if err != nil {
		return err
	}
	if c == close {
		s.pos++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		c, err := s.ws()
		if err != nil {
			return err
		}
		s.pos++
		switch c {
		case close:
			return nil
		case ',':
		default:
			return s.malformed(s.pos-1, "found %q, want ',' or %q", c, close)
		}
	}
}

// skipper finds the end of one JSON value, tracking only strings and
// brackets; its state survives the end of a buffer.
type skipper struct {
	depth  int
	inStr  bool
	esc    bool // the previous buffer ended in an odd run of backslashes
	scalar bool // inside a number or literal at depth 0
	begun  bool
}

// byteClass classifies bytes for the skipper: '1' a quote, '2' an opening
// bracket, '3' a closing one, '4' a delimiter or whitespace, '0' anything else.
const byteClass = "0000000004400400000000000000000040100000000040000000000000400000000000000000000000000000000203000000000000000000000000000002030000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

// scan scans b from i. It returns the end of the value and true, or
// len(b) and false when it needs more input.
func (k *skipper) scan(b []byte, i int) (int, bool, error) {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	depth, inStr, esc := k.depth, k.inStr, k.esc
	for i < len(b) {
		if inStr {
			if esc {
				esc = false
				i++
				continue
			}
			j := i
			for ; j+8 <= len(b); j += 8 {
				x := binary.LittleEndian.Uint64(b[j:])
				q, s := x^(lo*'"'), x^(lo*'\\')
				if m := ((q-lo)&^q | (s-lo)&^s) & hi; m != 0 {
					j += bits.TrailingZeros64(m) / 8
					goto found
				}
			}
			for ; j < len(b) && b[j] != '"' && b[j] != '\\'; j++ {
			}
		found:
			if j == len(b) {
				k.depth, k.inStr, k.esc = depth, inStr, esc
				return j, false, nil
			}
			if b[j] == '\\' {
				esc = true
				i = j + 1
				continue
			}
			i = j + 1
			inStr = false
			if depth == 0 {
				return i, true, nil
			}
			continue
		}
		if depth > 0 { // inside a container: the common case, in one loop
			for i < len(b) {
				switch byteClass[b[i]] {
				case '1': // a string: find its end here when it ends in b
					j := i + 1
					for {
						for ; j+8 <= len(b); j += 8 { // quoteOrBackslash, inlined
							x := binary.LittleEndian.Uint64(b[j:])
							q, s := x^(lo*'"'), x^(lo*'\\')
							if m := ((q-lo)&^q | (s-lo)&^s) & hi; m != 0 {
								j += bits.TrailingZeros64(m) / 8
								goto stop
							}
						}
						for j < len(b) && b[j] != '"' && b[j] != '\\' {
							j++
						}
					stop:
						if j >= len(b) {
							k.depth, k.inStr, k.esc = depth, true, false
							return len(b), false, nil
						}
						if b[j] == '"' {
							break
						}
						if j+1 == len(b) { // a backslash ends the buffer
							k.depth, k.inStr, k.esc = depth, true, true
							return len(b), false, nil
						}
						j += 2
					}
					i = j
				case '2':
					depth++
				case '3':
					if depth--; depth == 0 {
						return i + 1, true, nil
					}
				}
				i++
			}
			k.depth, k.inStr, k.esc = depth, inStr, esc
			return i, false, nil
		}
		c := b[i]
		switch byteClass[c] {
		case '1':
			if k.scalar {
				return i, true, nil
			}
			inStr, k.begun = true, true
		case '2':
			if k.scalar {
				return i, true, nil
			}
			depth++
			k.begun = true
		case '3':
			if k.scalar {
				return i, true, nil
			}
			depth--
			if depth < 0 {
				return i, false, fmt.Errorf("unexpected %q", c)
			}
			if depth == 0 {
				return i + 1, true, nil
			}
		case '4':
			if k.scalar {
				return i, true, nil
			}
			if !k.begun {
				return i, false, fmt.Errorf("unexpected %q", c)
			}
		default:
			if depth == 0 {
				k.scalar, k.begun = true, true
			}
		}
		i++
	}
	k.depth, k.inStr, k.esc = depth, inStr, esc
	return len(b), false, nil
}

// quoteOrBackslash is the index of the first '"' or '\\' in b from i, or
// len(b); it tests eight bytes at a time.
func quoteOrBackslash(b []byte, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, s := x^(lo*'"'), x^(lo*'\\')
		if m := ((q-lo)&^q | (s-lo)&^s) & hi; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' || b[i] == '\\' {
			return i
		}
	}
	return i
}

// atEOF reports whether the value is complete at the end of the input.
func (k *skipper) atEOF(i int) (int, bool) {
	return i, k.scalar && !k.inStr
}

// ElementsFunc calls fn for each element of the array that is the next
// value; fn must consume the element (with Object, Value or Skip). null is
// an empty array; any other value is skipped and reported as false.
func (s *Stream) ElementsFunc(fn func() error) (bool, error) {
	if in, null, err := s.enter('['); !in {
		return null, err
	}
	return true, s.list(']', fn)
}

// enter steps into the object or array opened by open when that is the next
// value. Otherwise it skips the value and reports whether it was null (an
// empty container) or something else.
func (s *Stream) enter(open byte) (in, null bool, err error) {
	c, err := s.ws()
	if err != nil {
		return false, false, err
	}
	if c != open {
		raw, err := s.Value()
		return false, bytes.Equal(raw, []byte("null")), err
	}
	s.pos++
	return true, false, nil
}
