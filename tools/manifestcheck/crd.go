// Custom resources checked against vendored CRDs (crds/) the way the API server does: structural schema, pruning of unknown fields, OpenAPI validation.
package main

import (
	"context"
	"embed"
	"fmt"
	"path"

	apiextinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// crdSchema is one served version of a vendored CRD.
type crdSchema struct {
	source     string
	namespaced bool
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
}

func loadCRDs() (map[schema.GroupVersionKind]*crdSchema, error) {
	entries, err := crdFiles.ReadDir("crds")
	if err != nil {
		return nil, err
	}
	out := map[schema.GroupVersionKind]*crdSchema{}
	for _, e := range entries {
		name := path.Join("crds", e.Name())
		data, err := crdFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			s, err := newCRDSchema(v.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, fmt.Errorf("%s version %s: %w", name, v.Name, err)
			}
			s.source = name
			s.namespaced = crd.Spec.Scope == apiextv1.NamespaceScoped
			out[schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}] = s
		}
	}
	return out, nil
}

func newCRDSchema(v1props *apiextv1.JSONSchemaProps) (*crdSchema, error) {
	var internal apiextinternal.JSONSchemaProps
	if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1props, &internal, nil); err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, err
	}
	validator, _, err := validation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, err
	}
	return &crdSchema{structural: structural, validator: validator}, nil
}

// validate reports what a server with fieldValidation=Strict would refuse (CEL rules aside: they need the API server's CEL environment).
func (s *crdSchema) validate(data []byte) []string {
	var obj map[string]interface{}
	// YAMLToJSONStrict refuses duplicate keys, as the strict built-in decoder does.
	jsonData, err := yaml.YAMLToJSONStrict(data)
	if err == nil {
		err = yaml.Unmarshal(jsonData, &obj)
	}
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	meta, _, unknownMeta, err := objectmeta.GetObjectMetaWithOptions(obj, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		problems = append(problems, fmt.Sprintf("metadata: %v", err))
	}
	for _, p := range unknownMeta {
		problems = append(problems, fmt.Sprintf("unknown field %q", p))
	}
	unknown := pruning.PruneWithOptions(copyJSON(obj), s.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, p := range unknown {
		problems = append(problems, fmt.Sprintf("unknown field %q", p))
	}
	problems = append(problems, errorStrings(validation.ValidateCustomResource(nil, obj, s.validator))...)
	problems = append(problems, errorStrings(objectmeta.Validate(context.Background(), nil, obj, s.structural, true))...)
	if meta != nil {
		problems = append(problems, errorStrings(validateMeta(meta, s.namespaced, nameRule("")))...)
	} else if err == nil {
		problems = append(problems, field.Required(field.NewPath("metadata"), "").Error())
	}
	return problems
}

// copyJSON deep-copies decoded JSON, since pruning edits the object it walks.
func copyJSON(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			out[k] = copyJSON(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			out[i] = copyJSON(e)
		}
		return out
	default:
		return v
	}
}
