package docker

import (
	"fmt"
	"strings"
	"text/template"
	"unicode"
)

// DefaultRule is the rule template of a router that does not give one: the container's
// name as a host, like Traefik.
const DefaultRule = "Host(`{{ normalize .Name }}`)"

// Normalize turns a name into one usable as a router or service name and as a host label:
// every run of characters other than letters and digits becomes one "-", as Traefik does,
// so "web_blog" and "web.blog" both become "web-blog".
func Normalize(name string) string {
	return strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}), "-")
}

// ruleData is what the default rule template sees. Every string in it has been through
// ruleSafe, so no container name or label value can close the quotes it is written in.
type ruleData struct {
	Name          string            // the default service name (compose service and project, or container name)
	ContainerName string            // the container's name
	ID            string            // the container's full id
	Labels        map[string]string // every label of the container
}

// parseRuleTemplate parses the default rule template once, so a bad template fails at
// start-up instead of once per container.
func parseRuleTemplate(text string) (*template.Template, error) {
	if text == "" {
		text = DefaultRule
	}
	t, err := template.New("defaultRule").
		Option("missingkey=zero").
		Funcs(template.FuncMap{"normalize": Normalize}).
		Parse(text)
	if err != nil {
		return nil, fmt.Errorf("default rule template %q: %w", text, err)
	}
	return t, nil
}

// ruleSafe replaces every character that could end a quoted rule argument (backtick,
// double quote, backslash) or that has no business in a rule (control characters) with
// "-". Rule strings in backticks are raw, so there is no escape that would keep a backtick;
// replacing it is the only way to make injection impossible, and such names can never be
// valid host names anyway.
func ruleSafe(s string) string {
	if strings.IndexFunc(s, unsafeRuleRune) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRuleRune(r) {
			return '-'
		}
		return r
	}, s)
}

func unsafeRuleRune(r rune) bool {
	return r == '`' || r == '"' || r == '\\' || unicode.IsControl(r)
}

type ruleMemo struct {
	t          *template.Template
	name, rule string
	err        error
}

// defaultRule executes the template for one container, once per container and name.
func defaultRule(t *template.Template, c *Container, name string) (string, error) {
	if m := c.ruleMemo; m != nil && m.t == t && m.name == name {
		return m.rule, m.err
	}
	rule, err := executeDefaultRule(t, c, name)
	c.ruleMemo = &ruleMemo{t: t, name: name, rule: rule, err: err}
	return rule, err
}

func executeDefaultRule(t *template.Template, c *Container, name string) (string, error) {
	labels := make(map[string]string, len(c.Labels))
	for k, v := range c.Labels {
		labels[k] = ruleSafe(v)
	}
	data := ruleData{Name: ruleSafe(name), ContainerName: ruleSafe(c.Name), ID: ruleSafe(c.ID), Labels: labels}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// defaultName is the name of the service and router a container gets when its labels do
// not name them: "<service>-<project>" for a compose container, so every replica of a
// compose service lands in one load-balanced service, else the container's name.
func defaultName(c *Container) string {
	name := c.Name
	if svc, proj := c.label(composeService), c.label(composeProject); svc != "" && proj != "" {
		name = svc + "_" + proj
	}
	if n := Normalize(name); n != "" {
		return n
	}
	return Normalize(c.ID)
}
