using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace BiasBench.Torch.Backend;

/// <summary>What the process ended up running on.</summary>
public sealed record TorchBackendInfo(string Source, string LibTorchDirectory, bool CudaAvailable, int CudaDeviceCount, bool PatchedGlibcxx, string TorchSharpVersion)
{
    /// <summary>Why CUDA is not available (which library failed to load and why, the initialisation error, ...); null when it is.</summary>
    public string? CudaUnavailableReason { get; init; }

    public override string ToString() =>
        $"{Source} libtorch ({LibTorchDirectory}), TorchSharp {TorchSharpVersion}, CUDA {(CudaAvailable ? $"available ({CudaDeviceCount} device(s))" : $"not available: {CudaUnavailableReason ?? "unknown reason"}")}{(PatchedGlibcxx ? ", GLIBCXX_3.4.32 marked weak" : "")}";
}

/// <summary>
/// Loads libtorch for TorchSharp exactly once per process:
/// <list type="bullet">
/// <item>When BIASBENCH_LIBTORCH_DIR names a libtorch directory (e.g. PyTorch's torch/lib), load libc10, libc10_cuda,
/// libtorch_cpu, libtorch_cuda and libtorch from there (in that order), then TorchSharp's libLibTorchSharp.so.</item>
/// <item>Otherwise use the NuGet CPU libtorch next to the application.</item>
/// </list>
/// On systems whose libstdc++ lacks GLIBCXX_3.4.32 (GCC 12: Debian 12, Ubuntu 22.04), a copy of libLibTorchSharp.so with
/// that version-need marked weak is loaded instead (see <see cref="ElfVersionPatch"/>).
/// </summary>
public static class TorchBackend
{
    public const string LibTorchDirVariable = "BIASBENCH_LIBTORCH_DIR";
    private const string RequiredGlibcxx = "GLIBCXX_3.4.32";
    private static readonly object Gate = new();
    private static TorchBackendInfo? _info;
    private static IntPtr _torchSharpHandle;

    /// <summary>Initialises the backend (idempotent) and returns what was loaded.</summary>
    public static TorchBackendInfo EnsureInitialized()
    {
        lock (Gate)
        {
            if (_info is not null) return _info;
            if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            {
                torch.InitializeDeviceType(DeviceType.CPU);
                return _info = new TorchBackendInfo("default", "(platform default)", torch.cuda.is_available(), CudaCount(), false, TorchSharpVersion());
            }

            var external = Environment.GetEnvironmentVariable(LibTorchDirVariable);
            string source, libDir;
            string? cudaReason = null;
            if (!string.IsNullOrWhiteSpace(external))
            {
                if (!Directory.Exists(external))
                    throw new DirectoryNotFoundException($"{LibTorchDirVariable}={external} does not exist.");
                libDir = Path.GetFullPath(external);
                source = "external";
                foreach (var lib in new[] { "libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so" })
                {
                    var p = Path.Combine(libDir, lib);
                    if (!File.Exists(p)) continue;
                    if (lib.Contains("cuda", StringComparison.Ordinal))
                    {
                        // Keep the loader's reason (missing libcudart, driver/library mismatch, not an ELF file...): CPU may still work.
                        try { NativeLibrary.Load(p); }
                        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
                        {
                            cudaReason ??= $"{lib} could not be loaded: {e.Message}";
                        }
                    }
                    else NativeLibrary.Load(p);
                }
            }
            else
            {
                libDir = FindNativeDirectory("libtorch_cpu.so")
                    ?? throw new DllNotFoundException("libtorch_cpu.so was not found next to the application. Restore with the libtorch-cpu-linux-x64 package or set " + LibTorchDirVariable + ".");
                source = "nuget-cpu";
                foreach (var lib in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
                {
                    var p = Path.Combine(libDir, lib);
                    if (File.Exists(p)) NativeLibrary.Load(p);
                }
            }

            var bindingDir = FindNativeDirectory("libLibTorchSharp.so")
                ?? throw new DllNotFoundException("TorchSharp's libLibTorchSharp.so was not found next to the application.");
            var binding = Path.Combine(bindingDir, "libLibTorchSharp.so");
            var patched = false;
            if (!SystemLibStdCxxHas(RequiredGlibcxx))
            {
                var bytes = File.ReadAllBytes(binding);
                if (ElfVersionPatch.MarkVersionNeedWeak(bytes, RequiredGlibcxx))
                {
                    binding = WritePatchedCopy(bytes);
                    patched = true;
                }
            }
            _torchSharpHandle = NativeLibrary.Load(binding);
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, ResolveTorchSharp);
            }
            catch (InvalidOperationException)
            {
                // TorchSharp installed its own resolver; the library is already loaded by soname, so plain probing finds it.
            }

            var cuda = false;
            if (source != "external")
                cudaReason = $"the NuGet libtorch is CPU-only; set {LibTorchDirVariable} to a CUDA-enabled libtorch (e.g. PyTorch's torch/lib)";
            else if (!File.Exists(Path.Combine(libDir, "libtorch_cuda.so")))
                cudaReason = $"{LibTorchDirVariable}={libDir} has no libtorch_cuda.so (a CPU-only libtorch?)";
            else if (cudaReason is null)
            {
                try
                {
                    torch.InitializeDeviceType(DeviceType.CUDA);
                    cuda = torch.cuda.is_available();
                    if (!cuda) cudaReason = "libtorch_cuda loaded, but torch.cuda.is_available() is false (no GPU visible: driver missing or too old for this CUDA build, or CUDA_VISIBLE_DEVICES hides it)";
                }
                catch (Exception e)
                {
                    cudaReason = $"CUDA initialisation failed: {e.GetType().Name}: {e.Message}";
                }
            }
            if (!cuda) torch.InitializeDeviceType(DeviceType.CPU);
            return _info = new TorchBackendInfo(source, libDir, cuda, cuda ? CudaCount() : 0, patched, TorchSharpVersion())
            {
                CudaUnavailableReason = cuda ? null : cudaReason,
            };
        }
    }

    /// <summary>Resolves "auto", "cpu", "cuda" or "cuda:N" to a device that exists, with a clear error otherwise.</summary>
    public static torch.Device ResolveDevice(string requested)
    {
        var info = EnsureInitialized();
        var r = (requested ?? "auto").Trim().ToLowerInvariant();
        if (r == "auto") return info.CudaAvailable ? torch.CUDA : torch.CPU;
        if (r == "cpu") return torch.CPU;
        if (r.StartsWith("cuda"))
        {
            if (!info.CudaAvailable)
                throw new InvalidOperationException($"Device '{requested}' was requested but CUDA is not available: {info.CudaUnavailableReason ?? "unknown reason"}. " +
                    $"Backend: {info}. Set {LibTorchDirVariable} to a CUDA-enabled libtorch (e.g. PyTorch's torch/lib) or use --device cpu.");
            return new torch.Device(r);
        }
        throw new ArgumentException($"Unknown device '{requested}': use cpu, cuda, cuda:N or auto.");
    }

    private static IntPtr ResolveTorchSharp(string name, Assembly assembly, DllImportSearchPath? path) =>
        name is "LibTorchSharp" or "libLibTorchSharp" or "libLibTorchSharp.so" ? _torchSharpHandle : IntPtr.Zero;

    private static int CudaCount()
    {
        try { return torch.cuda.device_count(); } catch { return 0; }
    }

    private static string TorchSharpVersion() =>
        typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
        ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "?";

    private static string WritePatchedCopy(byte[] bytes)
    {
        var hash = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        var cacheRoot = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        foreach (var root in new[] { Path.Combine(cacheRoot, "biasbench", "native"), Path.Combine(Path.GetTempPath(), "biasbench-native") })
        {
            try
            {
                var dir = Path.Combine(root, hash);
                Directory.CreateDirectory(dir);
                var target = Path.Combine(dir, "libLibTorchSharp.so");
                if (!File.Exists(target) || new FileInfo(target).Length != bytes.Length)
                {
                    // Write then rename so concurrent processes never load a half-written file.
                    var tmp = target + "." + Environment.ProcessId + ".tmp";
                    File.WriteAllBytes(tmp, bytes);
                    File.Move(tmp, target, overwrite: true);
                }
                return target;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        throw new IOException("Could not write the patched libLibTorchSharp.so to any cache directory.");
    }

    private static string? FindNativeDirectory(string fileName)
    {
        var roots = new List<string> { AppContext.BaseDirectory };
        var torchDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(torchDir)) roots.Add(torchDir);
        foreach (var root in roots)
        {
            foreach (var candidate in new[] { root, Path.Combine(root, "runtimes", "linux-x64", "native") })
                if (File.Exists(Path.Combine(candidate, fileName))) return candidate;
        }
        // Framework-dependent runs from the NuGet cache (tests, `dotnet run`): ask the deps.json probing paths.
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string dirs)
            foreach (var d in dirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
                if (File.Exists(Path.Combine(d, fileName))) return d;
        return null;
    }

    private static bool SystemLibStdCxxHas(string version)
    {
        // The libstdc++ the process already mapped is the one the loader would bind to.
        string? path = null;
        try
        {
            path = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(p => p.Length >= 6 && p[5].Contains("libstdc++.so")).Select(p => p[5]).FirstOrDefault();
        }
        catch (IOException) { }
        path ??= new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        if (path is null) return true;
        var bytes = File.ReadAllBytes(path);
        var needle = System.Text.Encoding.ASCII.GetBytes(version + "\0");
        return bytes.AsSpan().IndexOf(needle) >= 0;
    }
}
