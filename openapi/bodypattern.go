package openapi

import (
	"regexp"
	"regexp/syntax"
)

// compilePattern compiles a pattern with Go's regexp, the engine the library
// uses by default.
func (s *bodySchema) compilePattern(v any) error {
	p, ok := v.(string)
	if !ok {
		return errUnsupported
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return errUnsupported
	}
	s.pattern = re
	s.patternClass = anchoredClass(p)
	return nil
}

// byteClass matches a pattern of the form ^[class]{min,max}$ over an ASCII
// class without a regexp: the most common pattern in API documents.
type byteClass struct {
	set      [4]uint64
	min, max int // max -1: unbounded
}

// anchoredClass recognizes such a pattern, or returns nil.
func anchoredClass(pattern string) *byteClass {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) != 3 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[2].Op != syntax.OpEndText {
		return nil
	}
	rep := re.Sub[1]
	bc := &byteClass{}
	switch rep.Op {
	case syntax.OpRepeat:
		bc.min, bc.max = rep.Min, rep.Max
	case syntax.OpStar:
		bc.min, bc.max = 0, -1
	case syntax.OpPlus:
		bc.min, bc.max = 1, -1
	default:
		return nil
	}
	cls := rep.Sub[0]
	if cls.Op != syntax.OpCharClass {
		return nil
	}
	for k := 0; k+1 < len(cls.Rune); k += 2 {
		if cls.Rune[k+1] >= 0x80 {
			return nil
		}
		for r := cls.Rune[k]; r <= cls.Rune[k+1]; r++ {
			bc.set[r/64] |= 1 << (r % 64)
		}
	}
	return bc
}

func (bc *byteClass) match(v string) bool {
	if len(v) < bc.min || bc.max >= 0 && len(v) > bc.max {
		return false
	}
	for k := 0; k < len(v); k++ {
		c := v[k]
		if c >= 0x80 || bc.set[c/64]&(1<<(c%64)) == 0 {
			return false
		}
	}
	return true
}

// matches reports whether v matches the schema's pattern.
func (s *bodySchema) matches(v string) bool {
	if s.patternClass != nil {
		return s.patternClass.match(v)
	}
	return s.pattern.MatchString(v)
}
