using BiasBench.Torch.Backend;
using TorchSharp;

namespace BiasBench.Torch.Tests.Backend;

public class TorchBackendTests
{
    [Fact]
    public void Initialises_libtorch_and_runs_an_operation()
    {
        var info = TorchBackend.EnsureInitialized();
        Assert.False(string.IsNullOrEmpty(info.LibTorchDirectory));
        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var b = a.matmul(a.t());
        Assert.Equal(50f, b[1, 1].item<float>());
    }

    [Fact]
    public void Weak_patch_marks_only_the_named_version()
    {
        var lib = Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).First();
        var bytes = File.ReadAllBytes(lib);
        Assert.True(ElfVersionPatch.NeedsVersion(bytes, "GLIBCXX_3.4.32"));
        Assert.False(ElfVersionPatch.NeedsVersion(bytes, "GLIBCXX_9.9.99"));
        var patched = (byte[])bytes.Clone();
        Assert.True(ElfVersionPatch.MarkVersionNeedWeak(patched, "GLIBCXX_3.4.32"));
        // Exactly one 16-bit flags field changes (0 -> 2 on the version-need aux entry).
        var diffs = Enumerable.Range(0, bytes.Length).Where(i => bytes[i] != patched[i]).ToList();
        Assert.Single(diffs);
        Assert.Equal(bytes[diffs[0]] | 2, patched[diffs[0]]);
    }

    [Fact]
    public void Rejects_non_elf_input()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionPatch.MarkVersionNeedWeak(new byte[100], "X"));
    }

    [Fact]
    public void Unknown_device_names_are_refused_clearly()
    {
        var e = Assert.Throws<ArgumentException>(() => TorchBackend.ResolveDevice("tpu"));
        Assert.Contains("tpu", e.Message);
        Assert.Equal(DeviceType.CPU, TorchBackend.ResolveDevice("cpu").type);
    }

    [Fact]
    public void Asking_for_cuda_without_it_says_why_it_is_unavailable()
    {
        var info = TorchBackend.EnsureInitialized();
        if (info.CudaAvailable)
        {
            Assert.Null(info.CudaUnavailableReason);
            return;
        }
        Assert.False(string.IsNullOrWhiteSpace(info.CudaUnavailableReason));
        var e = Assert.Throws<InvalidOperationException>(() => TorchBackend.ResolveDevice("cuda"));
        Assert.Contains(info.CudaUnavailableReason!, e.Message);
        Assert.Contains(info.CudaUnavailableReason!, info.ToString());
    }
}
