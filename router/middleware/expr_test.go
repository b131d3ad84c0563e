package middleware

import (
	"strings"
	"testing"
)

type vars struct{ a, b float64 }

var testFuncs = []exprFunc[*vars]{
	{name: "A", arity: 0, num: func(v *vars, _ []float64) float64 { return v.a }},
	{name: "Add", arity: 2, num: func(v *vars, a []float64) float64 { return v.b + a[0] + a[1] }},
	{name: "Big", arity: 0, pred: func(v *vars, _ []float64) bool { return v.a > 100 }},
}

func TestExpressions(t *testing.T) {
	v := &vars{a: 0.6, b: 1}
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"A() > 0.5", true},
		{"A() <= 0.5", false},
		{"A() > 0.5 && Add(1, 2) == 4", true},
		{"A() < 0.5 || Add(1, 2) != 4", false},
		{"!(A() < 0.5)", true},
		{"Big() || A() >= 0.6", true},
		{"!Big()", true},
		{"a() > 0.5", true}, // names are case-insensitive
		{"0.5 < A()", true},
		{"(A() > 1 || A() > 0.5) && (Add(0, 0) == 1)", true},
	} {
		e, err := compileExpr(tc.src, testFuncs)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got := e(v); got != tc.want {
			t.Errorf("%s = %v; want %v", tc.src, got, tc.want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"A() >", "offset 5: the expression ends too early"},
		{"A()", "offset 3: expected a comparison"},
		{"B() > 1", `offset 0: unknown function "B"; known: A, Add, Big`},
		{"Add(1) > 1", "offset 0: Add takes 2 arguments, not 1"},
		{"Add(1, x) > 1", "offset 7: the arguments of Add must be numbers"},
		{"A() > 1 &&", "ends too early"},
		{"(A() > 1", `expected ")"`},
		{"A() > 1 $", "unexpected character"},
		{"Big() > 1", "only numbers can be compared"},
		{"A() > 1 A()", `unexpected "A"`},
	} {
		_, err := compileExpr(tc.src, testFuncs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v; want %q", tc.src, err, tc.want)
		}
	}
}

func TestExpressionEvaluationDoesNotAllocate(t *testing.T) {
	e, err := compileExpr("A() > 0.5 && Add(1, 2) == 4 || !Big()", testFuncs)
	if err != nil {
		t.Fatal(err)
	}
	v := &vars{a: 1}
	if n := testing.AllocsPerRun(100, func() { e(v) }); n != 0 {
		t.Errorf("allocs = %v; want 0", n)
	}
}
