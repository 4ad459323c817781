using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace GidCluster.Azure.Tests.Manifests;

/// <summary>What the offline check found in one render: every problem, and the training shape it read.</summary>
public sealed record ManifestReport(IReadOnlyList<string> Problems, int Pods, int GpusPerPod, int WorldSize);

/// <summary>
/// Offline checks of a rendered GidCluster deployment: required fields, images, probes, resources,
/// references (Secrets, ConfigMaps, Services, ports) that must resolve inside the render, the silo
/// command line, placeholder-only secrets, and a training Job whose rank environment agrees with its
/// shape (N pods × G GPUs = WORLD_SIZE) and whose ranks can join their run (pod IP, cluster, TLS). Returns every
/// problem rather than stopping at the first.
/// </summary>
public static partial class ManifestValidator
{
    private static readonly string[] SiloRoles = ["coordinator", "worker", "all"];

    [GeneratedRegex(@"^ghcr\.io/gidcluster/(silo|trainer):[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex ImagePattern();

    public static ManifestReport Validate(JsonArray objects, string? expectedNamespace)
    {
        var problems = new List<string>();
        var all = objects.Select(o => o!.AsObject()).ToList();
        int pods = 0, gpus = 0, world = 0;

        foreach (var o in all)
        {
            var id = Id(o);
            if (Str(o, "apiVersion") is null) problems.Add($"{id}: no apiVersion");
            if (Str(o, "kind") is null) problems.Add($"{id}: no kind");
            if (Str(o, "metadata", "name") is null) problems.Add($"{id}: no metadata.name");
            if (expectedNamespace != null && Str(o, "metadata", "namespace") != expectedNamespace)
                problems.Add($"{id}: namespace is '{Str(o, "metadata", "namespace")}', expected '{expectedNamespace}'");
        }

        var secrets = Named(all, "Secret");
        var configMaps = Named(all, "ConfigMap");
        var services = Named(all, "Service");
        foreach (var (name, secret) in secrets)
            CheckPlaceholderSecret(name, secret, problems);

        foreach (var workload in all.Where(o => Str(o, "kind") is "Deployment" or "StatefulSet" or "Job"))
        {
            var id = Id(workload);
            var pod = workload["spec"]?["template"]?["spec"]?.AsObject();
            var podLabels = Labels(workload["spec"]?["template"]?["metadata"]?["labels"]);
            if (pod is null) { problems.Add($"{id}: no spec.template.spec"); continue; }
            var containers = pod["containers"]?.AsArray().Select(c => c!.AsObject()).ToList() ?? [];
            if (containers.Count == 0) problems.Add($"{id}: no containers");

            if (Str(workload, "kind") != "Job")
            {
                var selector = Labels(workload["spec"]?["selector"]?["matchLabels"]);
                if (selector.Count == 0 || selector.Any(kv => podLabels.GetValueOrDefault(kv.Key) != kv.Value))
                    problems.Add($"{id}: selector does not match the pod template's labels");
            }
            if (Str(workload, "kind") == "StatefulSet" && !services.ContainsKey(Str(workload, "spec", "serviceName") ?? ""))
                problems.Add($"{id}: serviceName '{Str(workload, "spec", "serviceName")}' is not a Service in the render");

            foreach (var volume in pod["volumes"]?.AsArray().Select(v => v!.AsObject()) ?? [])
            {
                if (Str(volume, "configMap", "name") is { } cm && !configMaps.ContainsKey(cm))
                    problems.Add($"{id}: volume '{Str(volume, "name")}' uses ConfigMap '{cm}', which is not in the render");
                if (Str(volume, "secret", "secretName") is { } s && !secrets.ContainsKey(s))
                    problems.Add($"{id}: volume '{Str(volume, "name")}' uses Secret '{s}', which is not in the render");
            }

            foreach (var c in containers)
            {
                var cid = $"{id} container '{Str(c, "name")}'";
                CheckContainer(cid, c, Str(workload, "kind") != "Job", secrets, configMaps, problems);
                if (Str(c, "image")?.StartsWith("ghcr.io/gidcluster/silo:", StringComparison.Ordinal) == true)
                {
                    CheckSilo(cid, c, WorkloadIdentity(pod, podLabels, configMaps), problems);
                    CheckSiloInPod(id, cid, c, pod, all, configMaps, services, problems);
                }
            }
            if (Str(workload, "kind") == "Job")
                (pods, gpus, world) = CheckTrainingJob(workload, pod, containers, podLabels, services, configMaps, problems);
        }

        foreach (var (name, service) in services)
            CheckService(name, service, all, problems);

        if (!all.Any(o => Str(o, "kind") == "Job"))
            problems.Add("no training Job in the render");
        foreach (var required in new[] { "Deployment/gid-coordinator", "Deployment/gid-worker", "Service/gid-coordinator", "Service/gid-gateway", "ServiceAccount/gid", "Role/gid-silo", "RoleBinding/gid-silo" })
        {
            if (!all.Any(o => $"{Str(o, "kind")}/{Str(o, "metadata", "name")}" == required))
                problems.Add($"{required} is missing from the render");
        }
        return new ManifestReport(problems, pods, gpus, world);
    }

    private static void CheckContainer(string cid, JsonObject c, bool longRunning, Dictionary<string, JsonObject> secrets,
        Dictionary<string, JsonObject> configMaps, List<string> problems)
    {
        var image = Str(c, "image");
        if (image is null || !ImagePattern().IsMatch(image) || image.EndsWith(":latest", StringComparison.Ordinal))
            problems.Add($"{cid}: image '{image}' is not a GidCluster image with a pinned tag");

        var requests = c["resources"]?["requests"]?.AsObject();
        var limits = c["resources"]?["limits"]?.AsObject();
        if (requests?["cpu"] is null || requests["memory"] is null)
            problems.Add($"{cid}: resources.requests needs cpu and memory");
        if (limits?["memory"] is null)
            problems.Add($"{cid}: resources.limits needs memory");

        var portNames = c["ports"]?.AsArray().Select(p => Str(p!.AsObject(), "name")).OfType<string>().ToHashSet() ?? [];
        if (longRunning)
        {
            foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
            {
                var p = c[probe]?.AsObject();
                if (p is null) { problems.Add($"{cid}: no {probe}"); continue; }
                if (p["httpGet"] is JsonObject http)
                {
                    var port = http["port"];
                    if (port is JsonValue v && v.TryGetValue<string>(out var named) && !portNames.Contains(named))
                        problems.Add($"{cid}: {probe} uses port '{named}', which the container does not name");
                    if (Str(http, "path") is not "/healthz")
                        problems.Add($"{cid}: {probe} should GET /healthz");
                }
                else if (p["exec"] is null && p["tcpSocket"] is null)
                {
                    problems.Add($"{cid}: {probe} has no httpGet, exec or tcpSocket");
                }
            }
        }

        foreach (var e in c["env"]?.AsArray().Select(x => x!.AsObject()) ?? [])
        {
            var name = Str(e, "name");
            var hasValue = e.ContainsKey("value");
            var from = e["valueFrom"]?.AsObject();
            if (hasValue == (from is not null))
                problems.Add($"{cid}: env {name} must have exactly one of value and valueFrom");
            if (from?["secretKeyRef"] is JsonObject sk)
                CheckKey(cid, name, "Secret", Str(sk, "name"), Str(sk, "key"), secrets, problems);
            if (from?["configMapKeyRef"] is JsonObject ck)
                CheckKey(cid, name, "ConfigMap", Str(ck, "name"), Str(ck, "key"), configMaps, problems);
        }
    }

    private static void CheckKey(string cid, string? env, string kind, string? name, string? key, Dictionary<string, JsonObject> pool, List<string> problems)
    {
        if (name is null || !pool.TryGetValue(name, out var target))
        {
            problems.Add($"{cid}: env {env} refers to {kind} '{name}', which is not in the render");
            return;
        }
        var keys = new[] { "data", "stringData" }.SelectMany(f => target[f]?.AsObject().Select(kv => kv.Key) ?? []).ToHashSet();
        if (key is null || !keys.Contains(key))
            problems.Add($"{cid}: env {env} refers to key '{key}' of {kind} '{name}', which has no such key");
    }

    /// <summary>The silo's real command line: <c>gid silo --role R --urls U …</c>, with the store and blob store given through GID_STORE and GID_BLOB.</summary>
    /// <summary>
    /// Blobs through workload identity: the pod runs as a ServiceAccount with the webhook's label, and the blob URI
    /// names the account (<c>?account=</c> or <c>?endpoint=</c>), so no connection string is needed.
    /// </summary>
    private static bool WorkloadIdentity(JsonObject pod, Dictionary<string, string> podLabels, Dictionary<string, JsonObject> configMaps) =>
        Str(pod, "serviceAccountName") is not null
        && podLabels.GetValueOrDefault("azure.workload.identity/use") == "true"
        && configMaps.TryGetValue("gid-config", out var config)
        && Str(config, "data", "blob") is { } blob && (blob.Contains("?account=", StringComparison.Ordinal) || blob.Contains("?endpoint=", StringComparison.Ordinal));

    private static void CheckSilo(string cid, JsonObject c, bool workloadIdentity, List<string> problems)
    {
        var command = c["command"]?.AsArray().Select(x => (string?)x).ToList() ?? [];
        var args = c["args"]?.AsArray().Select(x => (string?)x).ToList() ?? [];
        var line = command.Concat(args).ToList();
        if (line.Count < 2 || line[0] != "gid" || line[1] != "silo")
            problems.Add($"{cid}: runs '{string.Join(' ', line)}', expected 'gid silo …'");
        var role = Option(line, "--role");
        if (role is null || !SiloRoles.Contains(role))
            problems.Add($"{cid}: --role is '{role}', expected one of {string.Join(", ", SiloRoles)}");
        if (Option(line, "--urls") is not { } urls || !urls.StartsWith("http://0.0.0.0:", StringComparison.Ordinal))
            problems.Add($"{cid}: --urls must listen on all interfaces (http://0.0.0.0:PORT) so that probes and the Service reach it");
        var env = c["env"]?.AsArray().Select(e => Str(e!.AsObject(), "name")).ToHashSet() ?? [];
        foreach (var (variable, option) in new[] { ("GID_STORE", "--store"), ("GID_BLOB", "--blob") })
        {
            if (!env.Contains(variable) && Option(line, option) is null)
                problems.Add($"{cid}: neither {variable} nor {option}");
        }
        if (!env.Contains("AZURE_STORAGE_CONNECTION_STRING") && !workloadIdentity)
            problems.Add($"{cid}: no AZURE_STORAGE_CONNECTION_STRING for the azure:// blob store");
        if (role is "coordinator" or "all" && !env.Contains("GID_TOKEN") && Option(line, "--token-file") is null)
            problems.Add($"{cid}: a coordinator needs GID_TOKEN (from a Secret) or --token-file");
        if (EnvValue(c, "GID_TOKEN") is not null || EnvValue(c, "AZURE_STORAGE_CONNECTION_STRING") is not null
            || (EnvValue(c, "GID_STORE") is { } store && store.Contains("Password=", StringComparison.OrdinalIgnoreCase)))
            problems.Add($"{cid}: a secret is written into the manifest instead of coming from a Secret");
    }

    /// <summary>The verbs Orleans' Kubernetes hosting uses on pods: watch the cluster's pods, label its own, delete those of dead silos.</summary>
    private static readonly string[] PodVerbs = ["get", "list", "watch", "patch", "delete"];

    /// <summary>
    /// What <c>gid silo</c> needs in a pod: the downward-API variables (POD_NAME/POD_NAMESPACE switch Orleans' Kubernetes
    /// hosting on, POD_IP is the address it advertises), Azure Storage clustering, the ports its flags name declared on the
    /// container (the gateway's behind a Service), and a ServiceAccount whose Role grants the pod verbs.
    /// </summary>
    private static void CheckSiloInPod(string id, string cid, JsonObject c, JsonObject pod, List<JsonObject> all,
        Dictionary<string, JsonObject> configMaps, Dictionary<string, JsonObject> services, List<string> problems)
    {
        foreach (var (variable, field) in new[] { ("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"), ("POD_IP", "status.podIP") })
        {
            var from = Str(FindEnv(c, variable) ?? [], "valueFrom", "fieldRef", "fieldPath");
            if (from != field)
                problems.Add(from is null
                    ? $"{cid}: no {variable} from the downward API ({field}); the silo needs it in a pod"
                    : $"{cid}: {variable} comes from '{from}', expected {field}");
        }
        var storeRef = FindEnv(c, "GID_STORE")?["valueFrom"]?["configMapKeyRef"];
        var store = storeRef is JsonObject r && configMaps.TryGetValue(Str(r, "name") ?? "", out var map) ? Str(map, "data", Str(r, "key") ?? "") : EnvValue(c, "GID_STORE");
        if (store is null || !(store == "azure" || store.StartsWith("azure?", StringComparison.Ordinal)))
            problems.Add($"{cid}: GID_STORE is '{store}'; silos in pods need Azure Storage clustering (azure or azure?…)");

        var line = (c["command"]?.AsArray().Select(x => (string?)x) ?? []).Concat(c["args"]?.AsArray().Select(x => (string?)x) ?? []).ToList();
        var ports = c["ports"]?.AsArray().Select(p => p!.AsObject()).ToList() ?? [];
        var role = Option(line, "--role");
        var needed = new List<(string Option, int Port)> { ("--silo-port", Int(Option(line, "--silo-port")) ?? 11111) };
        if (role is "coordinator" or "all")
            needed.Add(("--gateway-port", Int(Option(line, "--gateway-port")) ?? 30000));
        foreach (var (option, port) in needed)
        {
            if (!ports.Any(p => Int(p["containerPort"]) == port))
                problems.Add($"{cid}: {(option == "--gateway-port" ? "gateway" : "silo")} port {port} ({option}) is not a containerPort of the container");
        }
        if (needed.Count > 1)
        {
            var gateway = needed[1].Port;
            var names = ports.Where(p => Int(p["containerPort"]) == gateway).Select(p => Str(p, "name")).ToHashSet();
            var exposed = services.Values.Any(s => s["spec"]?["ports"]?.AsArray().Any(p =>
                (p!["targetPort"] ?? p["port"]) is JsonValue v && (v.TryGetValue<string>(out var n) ? names.Contains(n) : Int(v) == gateway)) == true);
            if (!exposed)
                problems.Add($"{cid}: no Service exposes the gateway port {gateway} (--gateway-port) to clients");
        }

        var account = Str(pod, "serviceAccountName");
        if (account is null)
        {
            problems.Add($"{id}: no serviceAccountName; Orleans' Kubernetes hosting needs one allowed {string.Join('/', PodVerbs)} on pods");
            return;
        }
        if (!all.Any(o => Str(o, "kind") == "ServiceAccount" && Str(o, "metadata", "name") == account))
            problems.Add($"{id}: ServiceAccount '{account}' is not in the render");
        var bindings = all.Where(o => Str(o, "kind") == "RoleBinding"
            && (o["subjects"]?.AsArray().Any(s => Str(s!.AsObject(), "kind") == "ServiceAccount" && Str(s.AsObject(), "name") == account) ?? false)).ToList();
        var roles = bindings.Select(b => Str(b, "roleRef", "name")).Select(n => all.FirstOrDefault(o => Str(o, "kind") == "Role" && Str(o, "metadata", "name") == n)).OfType<JsonObject>().ToList();
        if (roles.Count == 0)
        {
            problems.Add($"{id}: no RoleBinding binds ServiceAccount '{account}' to a Role in the render");
            return;
        }
        var granted = roles.SelectMany(role => role["rules"]?.AsArray().Select(x => x!.AsObject()) ?? [])
            .Where(rule => rule["resources"]?.AsArray().Any(x => (string?)x == "pods") == true && rule["apiGroups"]?.AsArray().Any(x => (string?)x == "") == true)
            .SelectMany(rule => rule["verbs"]?.AsArray().Select(x => (string?)x) ?? []).ToHashSet();
        foreach (var verb in PodVerbs.Where(v => !granted.Contains(v)))
            problems.Add($"Role/{Str(roles[0], "metadata", "name")}: no '{verb}' on pods for ServiceAccount '{account}' ({id}); Orleans' Kubernetes hosting needs {string.Join('/', PodVerbs)}");
    }

    private static (int Pods, int Gpus, int World) CheckTrainingJob(JsonObject job, JsonObject pod, List<JsonObject> containers,
        Dictionary<string, string> podLabels, Dictionary<string, JsonObject> services, Dictionary<string, JsonObject> configMaps, List<string> problems)
    {
        var id = Id(job);
        var parallelism = Int(job["spec"]?["parallelism"]);
        var completions = Int(job["spec"]?["completions"]);
        if (Str(job, "spec", "completionMode") != "Indexed")
            problems.Add($"{id}: completionMode must be Indexed (the completion index is the node rank)");
        if (parallelism is null or < 1 || parallelism != completions)
            problems.Add($"{id}: parallelism ({parallelism}) and completions ({completions}) must be equal: every rank runs at once");
        if (Str(pod, "restartPolicy") != "Never")
            problems.Add($"{id}: restartPolicy must be Never (a failed pod is replaced by a new one, whose ranks join the run's next attempt)");
        if (Int(job["spec"]?["backoffLimit"]) is null or < 1)
            problems.Add($"{id}: backoffLimit must be at least 1: a failed pod is recreated and its ranks join the run's next attempt");

        var trainer = containers.FirstOrDefault();
        if (trainer is null)
            return (0, 0, 0);
        var gpuRequest = Int(trainer["resources"]?["requests"]?["nvidia.com/gpu"]);
        var gpuLimit = Int(trainer["resources"]?["limits"]?["nvidia.com/gpu"]);
        var perNode = Int(EnvValue(trainer, "NPROC_PER_NODE"));
        var world = Int(EnvValue(trainer, "WORLD_SIZE"));
        if (gpuRequest is null or < 1 || gpuRequest != gpuLimit)
            problems.Add($"{id}: nvidia.com/gpu request ({gpuRequest}) and limit ({gpuLimit}) must be set and equal");
        if (perNode != gpuRequest)
            problems.Add($"{id}: NPROC_PER_NODE ({perNode}) must equal the GPUs per pod ({gpuRequest}): one process per GPU");
        if (world != parallelism * perNode)
            problems.Add($"{id}: WORLD_SIZE ({world}) must be parallelism ({parallelism}) × NPROC_PER_NODE ({perNode})");

        var rankFrom = Str(FindEnv(trainer, "NODE_RANK") ?? [], "valueFrom", "fieldRef", "fieldPath");
        if (rankFrom != "metadata.annotations['batch.kubernetes.io/job-completion-index']")
            problems.Add($"{id}: NODE_RANK must come from the job-completion-index annotation, not '{rankFrom}'");

        // Ranks join the run through its grain: the pod IP is the address they give, the cluster the silos' store.
        var ip = Str(FindEnv(trainer, "POD_IP") ?? [], "valueFrom", "fieldRef", "fieldPath");
        if (ip != "status.podIP")
            problems.Add($"{id}: no POD_IP from the downward API (status.podIP): rank 0 gives it to the run grain as the rendezvous address");
        var args = trainer["args"]?.AsArray().Select(x => (string?)x).ToList() ?? [];
        if (args.Count < 3 || args[0] != "train" || args[1] != "join" || Option(args, "--run") is null)
            problems.Add($"{id}: the launcher must run `gid train join --run RUN`, not `gid {string.Join(' ', args)}`");
        var clusterRef = FindEnv(trainer, "GID_CLUSTER")?["valueFrom"]?["configMapKeyRef"];
        var cluster = clusterRef is JsonObject cr && configMaps.TryGetValue(Str(cr, "name") ?? "", out var clusterMap)
            ? Str(clusterMap, "data", Str(cr, "key") ?? "") : EnvValue(trainer, "GID_CLUSTER");
        if (cluster is null || !(cluster == "azure" || cluster.StartsWith("azure?", StringComparison.Ordinal)))
            problems.Add($"{id}: GID_CLUSTER is '{cluster}'; joining ranks find the gateways in the Azure membership table (azure or azure?…)");
        foreach (var variable in new[] { "GID_TLS_CERT", "GID_TLS_KEY", "GID_TLS_CA" })
        {
            if (EnvValue(trainer, variable) is not { } file
                || !(trainer["volumeMounts"]?.AsArray().Any(m => file.StartsWith(Str(m!.AsObject(), "mountPath") + "/", StringComparison.Ordinal)) ?? false))
                problems.Add($"{id}: {variable} is not a file in a mounted volume: the gateways take mutual TLS only");
        }

        // The launcher (from a ConfigMap) turns NODE_RANK into per-process RANK and LOCAL_RANK.
        var launch = trainer["command"]?.AsArray().Select(x => (string?)x).LastOrDefault();
        var mount = trainer["volumeMounts"]?.AsArray().Select(m => m!.AsObject())
            .FirstOrDefault(m => launch != null && launch.StartsWith(Str(m, "mountPath") + "/", StringComparison.Ordinal));
        var volume = pod["volumes"]?.AsArray().Select(v => v!.AsObject()).FirstOrDefault(v => Str(v, "name") == Str(mount ?? [], "name"));
        var script = Str(volume ?? [], "configMap", "name") is { } cm && configMaps.TryGetValue(cm, out var map)
            ? Str(map, "data", Path.GetFileName(launch!)) : null;
        if (script is null)
            problems.Add($"{id}: the launcher '{launch}' is not a script mounted from a ConfigMap in the render");
        else if (!script.Contains("RANK=$((NODE_RANK * NPROC_PER_NODE + i))", StringComparison.Ordinal) || !script.Contains("LOCAL_RANK=$i", StringComparison.Ordinal))
            problems.Add($"{id}: the launcher does not set RANK and LOCAL_RANK per process");

        return (parallelism ?? 0, gpuRequest ?? 0, world ?? 0);
    }

    private static void CheckService(string name, JsonObject service, List<JsonObject> all, List<string> problems)
    {
        var selector = Labels(service["spec"]?["selector"]);
        var selected = all.Where(o => Str(o, "kind") is "Deployment" or "StatefulSet" or "Job")
            .Where(o =>
            {
                var labels = Labels(o["spec"]?["template"]?["metadata"]?["labels"]);
                return selector.Count > 0 && selector.All(kv => labels.GetValueOrDefault(kv.Key) == kv.Value);
            }).ToList();
        if (selected.Count == 0)
        {
            problems.Add($"Service/{name}: selects no workload in the render");
            return;
        }
        var containerPorts = selected.SelectMany(o => o["spec"]!["template"]!["spec"]!["containers"]!.AsArray())
            .SelectMany(c => c!["ports"]?.AsArray() ?? []).Select(p => p!.AsObject()).ToList();
        foreach (var port in service["spec"]?["ports"]?.AsArray().Select(p => p!.AsObject()) ?? [])
        {
            var target = port["targetPort"] ?? port["port"];
            var ok = target is JsonValue v && (v.TryGetValue<string>(out var named)
                ? containerPorts.Any(p => Str(p, "name") == named)
                : containerPorts.Any(p => Int(p["containerPort"]) == Int(target)));
            if (!ok)
                problems.Add($"Service/{name}: targetPort {target?.ToJsonString()} is not a port of the selected pods");
        }
    }

    /// <summary>Secrets in the repository hold placeholders only: every value says REPLACE-ME, and no value is a real-looking storage key.</summary>
    private static void CheckPlaceholderSecret(string name, JsonObject secret, List<string> problems)
    {
        if (Str(secret, "metadata", "annotations", "gidcluster.io/placeholder") is null)
            problems.Add($"Secret/{name}: not marked as a placeholder (annotation gidcluster.io/placeholder)");
        foreach (var field in new[] { "data", "stringData" })
        {
            foreach (var (key, value) in secret[field]?.AsObject() ?? [])
            {
                var text = (string?)value ?? "";
                if (field == "data")
                {
                    try { text = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(text)); }
                    catch (FormatException) { problems.Add($"Secret/{name}: data.{key} is not base64"); continue; }
                }
                if (!text.Contains("REPLACE-ME", StringComparison.Ordinal))
                    problems.Add($"Secret/{name}: {key} holds something other than a REPLACE-ME placeholder");
                var accountKey = Regex.Match(text, "AccountKey=([^;]*)");
                if (accountKey.Success && LooksLikeKey(accountKey.Groups[1].Value))
                    problems.Add($"Secret/{name}: {key} contains what looks like a real account key");
            }
        }
    }

    private static bool LooksLikeKey(string value)
    {
        try { return Convert.FromBase64String(value).Length >= 32; }
        catch (FormatException) { return false; }
    }

    // ---- JSON helpers ---------------------------------------------------------------------------

    private static string Id(JsonObject o) => $"{Str(o, "kind")}/{Str(o, "metadata", "name")}";

    private static Dictionary<string, JsonObject> Named(List<JsonObject> all, string kind) =>
        all.Where(o => Str(o, "kind") == kind).ToDictionary(o => Str(o, "metadata", "name") ?? "", o => o);

    private static string? Str(JsonObject o, params string[] path)
    {
        JsonNode? node = o;
        foreach (var p in path)
            node = node is JsonObject obj ? obj[p] : null;
        return node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
    }

    private static int? Int(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<int>(out var i) => i,
        JsonValue v when v.TryGetValue<string>(out var s) && int.TryParse(s, out var j) => j,
        _ => null,
    };

    private static int? Int(string? s) => int.TryParse(s, out var i) ? i : null;

    private static Dictionary<string, string> Labels(JsonNode? node) =>
        node is JsonObject o ? o.Where(kv => kv.Value is JsonValue).ToDictionary(kv => kv.Key, kv => (string)kv.Value!) : [];

    private static JsonObject? FindEnv(JsonObject container, string name) =>
        container["env"]?.AsArray().Select(e => e!.AsObject()).FirstOrDefault(e => Str(e, "name") == name);

    private static string? EnvValue(JsonObject container, string name) => FindEnv(container, name) is { } e ? Str(e, "value") : null;

    private static string? Option(List<string?> line, string option)
    {
        var i = line.IndexOf(option);
        return i >= 0 && i + 1 < line.Count ? line[i + 1] : null;
    }
}
