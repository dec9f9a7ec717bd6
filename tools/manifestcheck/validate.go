// Server-free checks of decoded built-in objects: the subset of the API server's validation that needs no cluster state and no k8s.io/kubernetes.
package main

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// clusterScoped are the kinds of the registered groups that have no namespace; k8s.io/api's types do not say.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ComponentStatus": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "StorageClass": true, "CSIDriver": true,
	"CSINode": true, "VolumeAttachment": true, "PriorityClass": true, "IngressClass": true,
	"RuntimeClass": true, "ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"CertificateSigningRequest": true, "FlowSchema": true, "PriorityLevelConfiguration": true,
}

// nameRule is the API server's rule for an object's name: most kinds take a DNS subdomain.
func nameRule(kind string) apivalidation.ValidateNameFunc {
	switch kind {
	case "Service":
		return apivalidation.NameIsDNS1035Label
	case "Namespace":
		return apivalidation.NameIsDNSLabel
	case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
		return path.ValidatePathSegmentName
	default:
		return apivalidation.NameIsDNSSubdomain
	}
}

func validateBuiltin(obj runtime.Object, gvk schema.GroupVersionKind) []string {
	var errs field.ErrorList
	if accessor, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := accessor.GetObjectMeta().(*metav1.ObjectMeta); ok {
			errs = append(errs, validateMeta(om, !clusterScoped[gvk.Kind], nameRule(gvk.Kind))...)
		}
	}
	spec := field.NewPath("spec")
	switch o := obj.(type) {
	case *appsv1.Deployment:
		errs = append(errs, validateWorkload(o.Spec.Selector, &o.Spec.Template, spec)...)
	case *appsv1.StatefulSet:
		errs = append(errs, validateWorkload(o.Spec.Selector, &o.Spec.Template, spec)...)
	case *appsv1.DaemonSet:
		errs = append(errs, validateWorkload(o.Spec.Selector, &o.Spec.Template, spec)...)
	case *appsv1.ReplicaSet:
		errs = append(errs, validateWorkload(o.Spec.Selector, &o.Spec.Template, spec)...)
	case *batchv1.Job:
		errs = append(errs, validatePodSpec(&o.Spec.Template.Spec, spec.Child("template", "spec"))...)
	case *batchv1.CronJob:
		errs = append(errs, validatePodSpec(&o.Spec.JobTemplate.Spec.Template.Spec,
			spec.Child("jobTemplate", "spec", "template", "spec"))...)
	case *corev1.Pod:
		errs = append(errs, validatePodSpec(&o.Spec, spec)...)
	case *corev1.Service:
		errs = append(errs, validateServicePorts(o.Spec.Ports, spec.Child("ports"))...)
	case *autoscalingv2.HorizontalPodAutoscaler:
		errs = append(errs, validateHPA(&o.Spec, spec)...)
	case *policyv1.PodDisruptionBudget:
		if o.Spec.MinAvailable != nil && o.Spec.MaxUnavailable != nil {
			errs = append(errs, field.Invalid(spec, "", "minAvailable and maxUnavailable cannot be both set"))
		}
		errs = append(errs, metav1validation.ValidateLabelSelector(o.Spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
	}
	return errorStrings(errs)
}

// validateMeta is the server's ObjectMeta check; a namespaced object may leave the namespace to helm install.
func validateMeta(om *metav1.ObjectMeta, namespaced bool, rule apivalidation.ValidateNameFunc) field.ErrorList {
	checked := *om
	if namespaced && checked.Namespace == "" {
		checked.Namespace = "default"
	}
	return apivalidation.ValidateObjectMeta(&checked, namespaced, rule, field.NewPath("metadata"))
}

func validateWorkload(selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	if selector == nil {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(selector,
			metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		if sel, err := metav1.LabelSelectorAsSelector(selector); err == nil {
			if sel.Empty() {
				errs = append(errs, field.Invalid(spec.Child("selector"), "", "empty selector is invalid for a workload"))
			} else if !sel.Matches(labels.Set(template.Labels)) {
				errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), template.Labels,
					"`selector` does not match template `labels`"))
			}
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(template.Labels, spec.Child("template", "metadata", "labels"))...)
	return append(errs, validatePodSpec(&template.Spec, spec.Child("template", "spec"))...)
}

func validatePodSpec(pod *corev1.PodSpec, at *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(pod.Containers) == 0 {
		errs = append(errs, field.Required(at.Child("containers"), ""))
	}
	names := map[string]bool{}
	check := func(c *corev1.Container, p *field.Path) {
		errs = append(errs, validateContainer(c, p)...)
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		}
		names[c.Name] = true
	}
	for i := range pod.InitContainers {
		check(&pod.InitContainers[i], at.Child("initContainers").Index(i))
	}
	for i := range pod.Containers {
		check(&pod.Containers[i], at.Child("containers").Index(i))
	}
	return errs
}

func validateContainer(c *corev1.Container, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	portNames := map[string]bool{}
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if portNames[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			portNames[port.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
			errs = append(errs, field.Invalid(pp.Child("containerPort"), port.ContainerPort, msg))
		}
	}
	for i, env := range c.Env {
		for _, msg := range validation.IsEnvVarName(env.Name) {
			errs = append(errs, field.Invalid(p.Child("env").Index(i).Child("name"), env.Name, msg))
		}
	}
	for name, limit := range c.Resources.Limits {
		if req, ok := c.Resources.Requests[name]; ok && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(p.Child("resources", "requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	return errs
}

func validateServicePorts(ports []corev1.ServicePort, at *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		pp := at.Index(i)
		if len(ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "must be specified when more than one port"))
		}
		if port.Name != "" {
			for _, msg := range validation.IsDNS1123Label(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(port.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port, msg))
		}
	}
	return errs
}

func validateHPA(spec *autoscalingv2.HorizontalPodAutoscalerSpec, at *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.MinReplicas != nil && *spec.MinReplicas < 1 {
		errs = append(errs, field.Invalid(at.Child("minReplicas"), *spec.MinReplicas, "must be greater than or equal to 1"))
	}
	if spec.MinReplicas != nil && *spec.MinReplicas > spec.MaxReplicas {
		errs = append(errs, field.Invalid(at.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	if spec.ScaleTargetRef.Kind == "" || spec.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(at.Child("scaleTargetRef"), "kind and name are required"))
	}
	return errs
}

func errorStrings(errs field.ErrorList) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}
