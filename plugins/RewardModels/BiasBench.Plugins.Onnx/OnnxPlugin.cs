using BiasBench.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: BiasBenchPlugin(typeof(BiasBench.Plugins.Onnx.OnnxPlugin))]

namespace BiasBench.Plugins.Onnx;

public sealed class OnnxPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar) =>
        registrar.AddRewardModel<OnnxRewardOptions>("onnx-reward", Version,
            "Any exported reward model run with ONNX Runtime (CPU, or CUDA with the CUDA build); inputs, preprocessing, tokenizer and the score output are mapped in the options.",
            (context, options) => new OnnxRewardModel(options,
                context.Services.GetService<ILoggerFactory>()?.CreateLogger("BiasBench.Plugins.Onnx"), context.Environment.Device));
}
