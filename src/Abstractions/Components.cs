using System.Text.Json.Serialization;

namespace BiasBench.Abstractions;

/// <summary>
/// A component configured inside another component's options (the reward, generator and judges of a fine-tuner). A
/// plugin declares one as an options property of type <see cref="ComponentReference{T}"/> (or a list of them); the
/// config writes it as <c>{ plugin: NAME, weight: W, options: {...} }</c>, or just <c>NAME</c>. The host checks it
/// with the config (plugin exists and has the right kind, its options bind and validate, its weights are there) and
/// binds <see cref="Options"/> to the referenced plugin's options type; at run time the component factory obtains the
/// instance from <see cref="ComponentContext.Components"/>.
/// </summary>
public abstract class ComponentReference
{
    /// <summary>The referenced component's name (e.g. <c>hps-v2.1</c>).</summary>
    public string Plugin { get; set; } = "";

    /// <summary>Weight of this component in a weighted list (e.g. a sum of rewards); 1 unless the config says otherwise.</summary>
    public double Weight { get; set; } = 1.0;

    /// <summary>The referenced component's options, bound and validated by the host (its plugin's options type).</summary>
    public object? Options { get; set; }

    /// <summary>The contract the referenced component must implement (<c>T</c> of <see cref="ComponentReference{T}"/>).
    /// A method, not a property, so that tools walking options objects do not descend into a <see cref="Type"/>.</summary>
    public abstract Type GetComponentType();

    /// <summary>The kind of component the reference names, from <see cref="GetComponentType"/>; null when the type names no kind.</summary>
    [JsonIgnore]
    public ComponentKind? Kind => KindOf(GetComponentType());

    /// <summary>The component kind whose contract <paramref name="contract"/> is or extends (IRewardModel and
    /// IDifferentiableRewardModel: RewardModel), or null.</summary>
    public static ComponentKind? KindOf(Type contract) =>
        typeof(IRewardModel).IsAssignableFrom(contract) ? ComponentKind.RewardModel
        : typeof(IImageGenerator).IsAssignableFrom(contract) ? ComponentKind.Generator
        : typeof(IJudge).IsAssignableFrom(contract) ? ComponentKind.Judge
        : typeof(IDataset).IsAssignableFrom(contract) ? ComponentKind.Dataset
        : typeof(IAnalysis).IsAssignableFrom(contract) ? ComponentKind.Analysis
        : typeof(IFineTuner).IsAssignableFrom(contract) ? ComponentKind.FineTuner
        : null;

    public override string ToString() => Weight == 1.0 ? Plugin : $"{Plugin} (weight {Weight})";
}

/// <summary>
/// A reference to a component that implements <typeparamref name="T"/>: <c>ComponentReference&lt;IRewardModel&gt;</c>,
/// <c>ComponentReference&lt;IDifferentiableRewardModel&gt;</c> (a reward model whose instance must also be differentiable;
/// checked when it is created), <c>ComponentReference&lt;IImageGenerator&gt;</c>, <c>ComponentReference&lt;IJudge&gt;</c>.
/// </summary>
public sealed class ComponentReference<T> : ComponentReference where T : class
{
    public override Type GetComponentType() => typeof(T);
}

/// <summary>
/// Creates the components a component's options reference. Instances belong to the host: it shares one instance
/// among every user whose reference names the same plugin with equal options (same device), and disposes it when the
/// last stage that uses it has finished. Never dispose a resolved instance yourself.
/// </summary>
/// <remarks>
/// "Equal options" means the bound options object serialises to the same canonical JSON (every option counts,
/// sampling settings too): an instance only ever sees one options object, so two users that differ in any option
/// get two instances. A plugin that can serve several settings from one set of loaded weights shares those weights
/// itself (as the diffusion generators do). A reference whose options property carries
/// <see cref="ExclusiveInstanceAttribute"/> always gets an instance of its own.
/// </remarks>
public interface IComponentResolver
{
    /// <summary>The instance for <paramref name="reference"/>, created through its plugin's factory or shared.
    /// Throws when it cannot be created or does not implement <typeparamref name="T"/>.</summary>
    T Resolve<T>(ComponentReference<T> reference) where T : class;

    /// <summary>The instances for a list of references, in order (their weights are on the references).</summary>
    IReadOnlyList<T> ResolveAll<T>(IEnumerable<ComponentReference<T>> references) where T : class =>
        references.Select(Resolve).ToList();
}

/// <summary>
/// On a <see cref="ComponentReference{T}"/> options property (or a list of them): the component gets an instance
/// that no other user shares, e.g. a generator whose weights a fine-tuner trains. The host still creates and disposes
/// it. (A plugin that shares loaded weights between its own instances must give such an instance its own copy before
/// changing them.)
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ExclusiveInstanceAttribute : Attribute;
