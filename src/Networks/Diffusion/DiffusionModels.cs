namespace BiasBench.Networks.Diffusion;

/// <summary>Loads the diffusion networks from diffusers model folders (<c>config.json</c> + weights), on the CPU in
/// float32; move and cast them with <see cref="DiffusionModule.To"/>.</summary>
public static class DiffusionModels
{
    public const string ConfigFile = "config.json";

    public static UNet2DModel LoadUNet2D(string folder, string? variant = null) =>
        LoadInto(new UNet2DModel(UNet2DConfig.FromFile(Path.Combine(folder, ConfigFile))), folder, variant);

    public static UNet2DConditionModel LoadUNet2DCondition(string folder, string? variant = null) =>
        LoadInto(new UNet2DConditionModel(UNet2DConditionConfig.FromFile(Path.Combine(folder, ConfigFile))), folder, variant);

    public static AutoencoderKL LoadAutoencoderKL(string folder, string? variant = null) =>
        LoadInto(new AutoencoderKL(AutoencoderKLConfig.FromFile(Path.Combine(folder, ConfigFile))), folder, variant);

    /// <summary>Fills <paramref name="model"/> from the folder's weights (see <see cref="DiffusionWeights.FindWeights"/>);
    /// disposes it when the checkpoint does not match.</summary>
    public static T LoadInto<T>(T model, string folder, string? variant = null) where T : DiffusionModule
    {
        try
        {
            DiffusionWeights.Load(model, DiffusionWeights.FindWeights(folder, variant));
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
