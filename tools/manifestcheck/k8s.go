// The k8s command: splits a YAML stream into objects, decodes each strictly into its API type, and reports one line per object.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// document is one YAML document of the stream, with where it came from for the messages.
type document struct {
	data   []byte
	source string // the template named by helm's "# Source:" comment, if any
	index  int    // 1-based position among the non-empty documents
}

// objectID names an object in messages; every field may be empty when the document is broken.
type objectID struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func (id objectID) String() string {
	name := id.Metadata.Name
	if name == "" {
		name = "(no name)"
	}
	return fmt.Sprintf("%s %s %s", orNone(id.APIVersion), orNone(id.Kind), name)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

var sourceComment = regexp.MustCompile(`(?m)^# Source: (.+?)\s*$`)

func splitDocuments(r io.Reader) ([]document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []document
	for {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if isEmptyDocument(chunk) {
			continue
		}
		doc := document{data: chunk, index: len(docs) + 1}
		if m := sourceComment.FindSubmatch(chunk); m != nil {
			doc.source = string(m[1])
		}
		docs = append(docs, doc)
	}
}

// isEmptyDocument is true for documents of only comments and blank lines, which helm emits for templates whose condition is off.
func isEmptyDocument(chunk []byte) bool {
	for _, line := range bytes.Split(chunk, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "---" {
			return false
		}
	}
	return true
}

// newScheme registers the stable API groups of k8s.io/api and prometheus-operator's monitoring types.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		admissionregistrationv1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme,
		autoscalingv2.AddToScheme, batchv1.AddToScheme, certificatesv1.AddToScheme,
		coordinationv1.AddToScheme, corev1.AddToScheme, discoveryv1.AddToScheme,
		eventsv1.AddToScheme, flowcontrolv1.AddToScheme, networkingv1.AddToScheme,
		nodev1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme, schedulingv1.AddToScheme,
		storagev1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err) // a registration conflict is a programming error
		}
	}
	return scheme
}

// checker holds what every document's check needs, built once per run.
type checker struct {
	scheme  *runtime.Scheme
	decoder runtime.Decoder
	crds    map[schema.GroupVersionKind]*crdSchema
}

func newChecker() (*checker, error) {
	scheme := newScheme()
	crds, err := loadCRDs()
	if err != nil {
		return nil, err
	}
	// Strict makes the serializer report unknown and duplicate fields instead of dropping them.
	decoder := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	return &checker{scheme: scheme, decoder: decoder, crds: crds}, nil
}

// check returns the object's identity and every problem found in it.
func (c *checker) check(doc document) (objectID, []string) {
	var id objectID
	if err := yaml.Unmarshal(doc.data, &id); err != nil {
		return id, []string{fmt.Sprintf("not a YAML object: %v", err)}
	}
	if id.APIVersion == "" || id.Kind == "" {
		return id, []string{"apiVersion and kind are required"}
	}
	gvk := schema.FromAPIVersionAndKind(id.APIVersion, id.Kind)
	if c.scheme.Recognizes(gvk) {
		obj, _, err := c.decoder.Decode(doc.data, nil, nil)
		if err != nil && !runtime.IsStrictDecodingError(err) {
			return id, []string{err.Error()}
		}
		var problems []string
		if err != nil {
			problems = append(problems, strictProblems(err)...)
		}
		return id, append(problems, validateBuiltin(obj, gvk)...)
	}
	if crd, ok := c.crds[gvk]; ok {
		return id, crd.validate(doc.data)
	}
	return id, []string{fmt.Sprintf("unknown apiVersion/kind %s %s: not a type of k8s.io/api nor of the CRDs manifestcheck knows (%s)",
		id.APIVersion, id.Kind, c.knownCRDs())}
}

// strictProblems splits the serializer's strict error into one problem per field.
func strictProblems(err error) []string {
	var strict interface{ Errors() []error }
	if errors.As(err, &strict) {
		var out []string
		for _, e := range strict.Errors() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

func (c *checker) knownCRDs() string {
	var names []string
	for gvk := range c.crds {
		names = append(names, gvk.GroupVersion().String()+" "+gvk.Kind)
	}
	names = append(names, monitoringv1.SchemeGroupVersion.String()+" (prometheus-operator)")
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkManifests is the k8s command: exit status 0 when every object passes, 1 otherwise.
func checkManifests(in io.Reader, stdout, stderr io.Writer) int {
	docs, err := splitDocuments(in)
	if err != nil {
		fmt.Fprintf(stderr, "manifestcheck: cannot read the YAML stream: %v\n", err)
		return 1
	}
	if len(docs) == 0 {
		fmt.Fprintln(stderr, "manifestcheck: no objects in the input")
		return 1
	}
	c, err := newChecker()
	if err != nil {
		fmt.Fprintf(stderr, "manifestcheck: %v\n", err)
		return 1
	}
	kinds := map[string]int{}
	failed := 0
	for _, doc := range docs {
		id, problems := c.check(doc)
		kinds[orNone(id.Kind)]++
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "ok %s\n", id)
			continue
		}
		failed++
		where := fmt.Sprintf("document %d", doc.index)
		if doc.source != "" {
			where += ", " + doc.source
		}
		for _, p := range problems {
			fmt.Fprintf(stdout, "error %s (%s): %s\n", id, where, oneLine(p))
		}
	}
	fmt.Fprintf(stdout, "%d objects (%s), %d invalid\n", len(docs), kindCounts(kinds), failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// oneLine keeps each problem on its line: yaml's errors span several.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func kindCounts(kinds map[string]int) string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	return strings.Join(parts, ", ")
}
