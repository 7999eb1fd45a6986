using BiasBench.Networks.Clip;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Clip;

public sealed class ClipWeightLoaderTests
{
    [Theory]
    [InlineData(ClipFixture.HuggingFaceFolder)]
    [InlineData(ClipFixture.OpenClipFolder)]
    public void EveryMissingUnexpectedAndMisshapedTensorIsNamed(string fixture)
    {
        var folder = ClipFixture.Folder(fixture);
        var config = ClipFixture.ReadConfig(folder);
        Dictionary<string, Tensor> tensors;
        using (var file = SafeTensorsFile.Open(ClipFixture.WeightsFile(folder))) tensors = file.LoadAll(ScalarType.Float32);
        try
        {
            var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
            var removed = names.First(n => n.Contains("layers.0") || n.Contains("resblocks.0"));
            var reshaped = names.Last(n => n.EndsWith(".bias"));
            tensors.Remove(removed, out var removedTensor);
            removedTensor!.Dispose();
            var original = tensors[reshaped];
            tensors[reshaped] = original[..^1];
            tensors["extra.not_in_clip"] = zeros(2);

            var e = Assert.Throws<StateDictMismatchException>(() => ClipModel.FromWeights(config, new InMemoryClipWeightSource(tensors, "test state dict")));
            Assert.Equal([removed], e.Report.Missing);
            Assert.Equal(["extra.not_in_clip"], e.Report.Unexpected);
            var mismatch = Assert.Single(e.Report.Mismatched);
            Assert.Equal(reshaped, mismatch.CheckpointKey);
            Assert.Equal(mismatch.ModuleShape[0] - 1, mismatch.CheckpointShape[0]);
            Assert.Contains(reshaped, e.Message);
            Assert.Contains(removed, e.Message);
            Assert.Contains("extra.not_in_clip", e.Message);
            Assert.Contains("test state dict", e.Message);
            original.Dispose();
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void BuffersSavedByOlderLibrariesAreIgnoredAndReported()
    {
        var folder = ClipFixture.Folder(ClipFixture.HuggingFaceFolder);
        var config = ClipFixture.ReadConfig(folder);
        Dictionary<string, Tensor> tensors;
        using (var file = SafeTensorsFile.Open(ClipFixture.WeightsFile(folder))) tensors = file.LoadAll(ScalarType.Float32);
        try
        {
            tensors["text_model.embeddings.position_ids"] = arange(config.Text.ContextLength).unsqueeze(0);
            using var model = ClipModel.FromWeights(config, new InMemoryClipWeightSource(tensors));
            Assert.NotNull(model.LoadReport);
            Assert.True(model.LoadReport!.IsExact);
            Assert.Equal(["text_model.embeddings.position_ids"], model.LoadReport.Ignored);
            Assert.Equal(model.parameters().Count(), model.LoadReport.Loaded.Count);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
