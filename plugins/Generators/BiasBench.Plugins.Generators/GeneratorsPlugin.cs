using BiasBench.Abstractions;
using BiasBench.Plugins.Generators;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: BiasBenchPlugin(typeof(GeneratorsPlugin))]

namespace BiasBench.Plugins.Generators;

/// <summary>Registers the local diffusion generators: ddpm and stable-diffusion.</summary>
public sealed class GeneratorsPlugin : IBiasBenchPlugin
{
    public const string Version = "1.0.0";

    public void Register(IPluginRegistrar registrar)
    {
        ArgumentNullException.ThrowIfNull(registrar);
        registrar.AddGenerator<DdpmGeneratorOptions>(DdpmGenerator.GeneratorName, Version,
            "Unconditional pixel-space DDPM/DDIM with any diffusers UNet2DModel folder (google/ddpm-celebahq-256); the prompt only labels images. " +
            "Seed = torch.randn on a CPU generator seeded per image, as diffusers.",
            (context, options) => new DdpmGenerator(options, context.Environment.Device, Logger(context, DdpmGenerator.GeneratorName)));
        registrar.AddGenerator<StableDiffusionOptions>(StableDiffusionGenerator.GeneratorName, Version,
            "Stable Diffusion 1.x (diffusers folder: unet, vae, text_encoder, tokenizer, scheduler) with classifier-free guidance and negative prompts.",
            (context, options) => new StableDiffusionGenerator(options, context.Environment.Device, Logger(context, StableDiffusionGenerator.GeneratorName)));
    }

    private static ILogger Logger(ComponentContext context, string name) =>
        context.Services.GetService<ILoggerFactory>()?.CreateLogger($"BiasBench.Plugins.Generators.{name}")
        ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
}
