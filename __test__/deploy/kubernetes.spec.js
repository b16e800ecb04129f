'use strict';

// deploy/kubernetes: each manifest validated against the Kubernetes API schema of its kind
// (kubernetes-models), then the settings an operator relies on: two replicas that the Service,
// the PodDisruptionBudget and the autoscaler all find, /health probes, a non-root numeric user
// that matches the image's, a locked-down container and sized resources.

const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const { Deployment } = require('kubernetes-models/apps/v1');
const { HorizontalPodAutoscaler } = require('kubernetes-models/autoscaling/v2');
const { PodDisruptionBudget } = require('kubernetes-models/policy/v1');
const { Service, EnvVar, Volume, VolumeMount, PodSecurityContext } = require('kubernetes-models/v1');
const { startHttpServer, rawRequest } = require('../helpers/server');

const ROOT = path.join(__dirname, '..', '..');
const KUBERNETES_DIR = path.join(ROOT, 'deploy', 'kubernetes');
const AUTH_COMPONENT_DIR = path.join(KUBERNETES_DIR, 'auth-token');

const MODELS = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

// YAML 1.1, as kubectl reads it.
function readYaml(file) {
  return YAML.parse(fs.readFileSync(file, 'utf8'), { version: '1.1' });
}

const kustomization = readYaml(path.join(KUBERNETES_DIR, 'kustomization.yaml'));
const manifests = kustomization.resources.map((file) => ({ file, object: readYaml(path.join(KUBERNETES_DIR, file)) }));
const byKind = (kind) => manifests.find(({ object }) => object.kind === kind).object;
const deployment = byKind('Deployment');
const podSpec = deployment.spec.template.spec;
const [container] = podSpec.containers;

// The Dockerfile's own word on the port and the user, so the manifests cannot drift from the image.
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const [, imageUid, imageGid] = /^USER (\d+):(\d+)$/m.exec(dockerfile);
const [, imagePort] = /^EXPOSE (\d+)$/m.exec(dockerfile);

const QUANTITY_SUFFIXES = { m: 1e-3, '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** A Kubernetes quantity ("250m", "1", "128Mi") as a number of cores or bytes. */
function quantity(text) {
  const [, number, suffix] = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|)$/.exec(String(text));
  return Number(number) * QUANTITY_SUFFIXES[suffix];
}

describe('deploy/kubernetes', () => {
  test('the kustomization lists every manifest in the folder', () => {
    const files = fs.readdirSync(KUBERNETES_DIR).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  test.each(manifests.map(({ file, object }) => [file, object]))('%s is valid against its API schema', (file, object) => {
    const Model = MODELS[`${object.apiVersion}/${object.kind}`];
    expect(Model).toBeDefined();
    expect(() => new Model(object).validate()).not.toThrow();
  });

  test('two replicas, selected by the Service, the PodDisruptionBudget and the autoscaler', () => {
    const podLabels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.replicas).toBe(2);
    expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(podLabels).toMatchObject(byKind('Service').spec.selector);

    const budget = byKind('PodDisruptionBudget');
    expect(podLabels).toMatchObject(budget.spec.selector.matchLabels);
    expect(budget.spec.minAvailable).toBeLessThan(deployment.spec.replicas);

    const autoscaler = byKind('HorizontalPodAutoscaler');
    expect(autoscaler.apiVersion).toBe('autoscaling/v2');
    expect(autoscaler.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(autoscaler.spec.minReplicas).toBe(deployment.spec.replicas);
    expect(autoscaler.spec.maxReplicas).toBeGreaterThan(autoscaler.spec.minReplicas);
  });

  // The kubelet sends Host: <pod IP>:<port>, which the server refuses with 403 once MCP_ALLOWED_HOSTS
  // is set; a loopback name always passes its Host check.
  test("readiness and liveness ask /health on the image's port, which the Service targets, as localhost", () => {
    const httpPort = container.ports.find((port) => port.name === 'http');
    expect(httpPort.containerPort).toBe(Number(imagePort));
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet).toEqual({ path: '/health', port: 'http', httpHeaders: [{ name: 'Host', value: 'localhost' }] });
    }
    expect(byKind('Service').spec.ports).toEqual([expect.objectContaining({ targetPort: 'http' })]);
  });

  test('the probes pass a server that sets MCP_ALLOWED_HOSTS, which refuses the Host the kubelet sends by default', async () => {
    // Loopback here; in the pod the server binds 0.0.0.0, and MCP_ALLOWED_HOSTS turns the same check on.
    const server = await startHttpServer({ MCP_ALLOWED_HOSTS: 'mcp.example.com' });
    try {
      const { port } = new URL(server.url);
      const kubeletDefault = await rawRequest(`${server.url}/health`, { headers: { Host: `10.0.0.7:${port}` } });
      expect(kubeletDefault.status).toBe(403);
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        const headers = Object.fromEntries(probe.httpGet.httpHeaders.map(({ name, value }) => [name, value]));
        const answer = await rawRequest(`${server.url}${probe.httpGet.path}`, { headers });
        expect(answer.status).toBe(200);
        expect(JSON.parse(answer.text).status).toBe('healthy');
      }
    } finally {
      await server.stop();
    }
  });

  test("runs as the image's numeric non-root user, read-only, unprivileged, with no capabilities", () => {
    expect(podSpec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: Number(imageUid),
      runAsGroup: Number(imageGid),
    });
    expect(podSpec.securityContext.runAsUser).not.toBe(0);
    expect(container.securityContext).toEqual({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  test('requests and limits for CPU and memory, each request within its limit', () => {
    const { requests, limits } = container.resources;
    for (const resource of ['cpu', 'memory']) {
      expect(quantity(requests[resource])).toBeGreaterThan(0);
      expect(quantity(requests[resource])).toBeLessThanOrEqual(quantity(limits[resource]));
    }
  });

  test('the auth-token component mounts the Secret where MCP_AUTH_TOKEN_FILE points, readable by the server only', () => {
    const component = readYaml(path.join(AUTH_COMPONENT_DIR, 'kustomization.yaml'));
    expect(component.kind).toBe('Component');
    const [patchFile] = component.patches.map((patch) => patch.path);
    const patch = readYaml(path.join(AUTH_COMPONENT_DIR, patchFile));
    expect(patch).toMatchObject({ apiVersion: deployment.apiVersion, kind: 'Deployment', metadata: { name: deployment.metadata.name } });

    const patchSpec = patch.spec.template.spec;
    const [patchContainer] = patchSpec.containers;
    expect(patchContainer.name).toBe(container.name);
    const tokenFile = patchContainer.env.find((variable) => variable.name === 'MCP_AUTH_TOKEN_FILE');
    const [mount] = patchContainer.volumeMounts;
    const volume = patchSpec.volumes.find((candidate) => candidate.name === mount.name);
    for (const [Model, object] of [[EnvVar, tokenFile], [VolumeMount, mount], [Volume, volume], [PodSecurityContext, patchSpec.securityContext]]) {
      expect(() => new Model(object).validate()).not.toThrow();
    }

    expect(path.posix.dirname(tokenFile.value)).toBe(mount.mountPath);
    expect(mount.readOnly).toBe(true);
    expect(volume.secret.secretName).toBe('letta-find-tools-mcp-auth');
    // Owner root, group fsGroup: with no "other" bits, only the server's group reads the token.
    expect(patchSpec.securityContext.fsGroup).toBe(Number(imageGid));
    expect(volume.secret.defaultMode & 0o007).toBe(0);
    expect(volume.secret.defaultMode & 0o040).toBe(0o040);
  });
});
